#!/usr/bin/env python3
"""Writes lib/normalize_table.h, the tables of lib/normalize.c, from the
Unicode database of the Python that runs it (unicodedata).

    python3 lib/normalize_gen.py > lib/normalize_table.h

Run it again only to move to a newer Unicode version; the header names the
version it was made from. What each table holds is said in normalize.h.
"""
import sys
import unicodedata as ud

# Dashes folded to '-': a card or phone number written with them must read
# like one written with ASCII hyphens.
DASHES = [0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0xFE58,
          0xFE63, 0xFF0D]

# Invisible characters that are not of category Cf but render as nothing:
# variation selectors, the combining grapheme joiner, Hangul fillers, the
# Khmer inherent vowels, Mongolian free variation selectors.
EXTRA_DROP = (list(range(0xFE00, 0xFE10)) + list(range(0xE0100, 0xE01F0))
              + [0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, 0x17B4, 0x17B5,
                 0x180B, 0x180C, 0x180D, 0x180F])

# Letters that look like a Latin letter (from UTS #39 confusables, the
# ones that pass for the Latin letter in ordinary fonts). Applied after
# NFKC, and only in words with a Latin letter or without any other letter
# of their script (see normalize.h).
CONFUSABLES = {
    # Cyrillic
    0x0410: 'A', 0x0412: 'B', 0x0415: 'E', 0x041A: 'K', 0x041C: 'M',
    0x041D: 'H', 0x041E: 'O', 0x0420: 'P', 0x0421: 'C', 0x0422: 'T',
    0x0425: 'X', 0x0430: 'a', 0x0435: 'e', 0x043E: 'o', 0x0440: 'p',
    0x0441: 'c', 0x0443: 'y', 0x0445: 'x', 0x0405: 'S', 0x0406: 'I',
    0x0408: 'J', 0x0455: 's', 0x0456: 'i', 0x0458: 'j', 0x04AE: 'Y',
    0x04AF: 'y', 0x04BB: 'h', 0x04C0: 'I', 0x04CF: 'l', 0x0501: 'd',
    0x051A: 'Q', 0x051B: 'q', 0x051C: 'W', 0x051D: 'w', 0x0474: 'V',
    0x0475: 'v', 0x04BA: 'H', 0x0500: 'D',
    # Greek
    0x0391: 'A', 0x0392: 'B', 0x0395: 'E', 0x0396: 'Z', 0x0397: 'H',
    0x0399: 'I', 0x039A: 'K', 0x039C: 'M', 0x039D: 'N', 0x039F: 'O',
    0x03A1: 'P', 0x03A4: 'T', 0x03A5: 'Y', 0x03A7: 'X', 0x03B1: 'a',
    0x03B3: 'y', 0x03B9: 'i', 0x03BA: 'k', 0x03BD: 'v', 0x03BF: 'o',
    0x03C1: 'p', 0x03C5: 'u', 0x03C7: 'x', 0x03F3: 'j',
    0x037F: 'J',
    # Armenian
    0x0555: 'O', 0x054D: 'U', 0x0585: 'o', 0x057D: 'u', 0x0578: 'n',
    0x0570: 'h', 0x0566: 'q',
    # Cherokee capitals
    0x13AA: 'A', 0x13F4: 'B', 0x13DF: 'C', 0x13A0: 'D', 0x13AC: 'E',
    0x13C0: 'G', 0x13BB: 'H', 0x13AB: 'J', 0x13E6: 'K', 0x13DE: 'L',
    0x13B7: 'M', 0x13A1: 'R', 0x13DA: 'S', 0x13A2: 'T', 0x13D9: 'V',
    0x13B3: 'W', 0x13C3: 'Z', 0x13E2: 'P',
    # Latin letters that NFKC leaves alone (the small capitals are added
    # by small_capitals() below)
    0x0131: 'i', 0x0251: 'a', 0x0261: 'g', 0x0237: 'j',
    # The other Latin letters that UTS #39 confuses with an ASCII letter and
    # that no living orthography writes next to that letter: historic ones
    # (yr, wynn, the Zhuang tone letters of 1957-1986, Greenlandic kra of
    # before 1973, medieval f and long s with strokes, Volapuk ue),
    # phonetic ones (turned delta, sideways o, palatal hooks, the capitals
    # beta, chi and J with crossed tail) and those of German dialectology
    # (Latin Extended-E).
    0x0138: 'k', 0x0184: 'b', 0x018D: 'g', 0x01A6: 'R', 0x01BD: 's',
    0x01BF: 'p', 0x1D11: 'o', 0x1D83: 'g', 0x1D8C: 'y', 0x1E9D: 'f',
    0xA798: 'F', 0xA799: 'f', 0xA79F: 'u', 0xA7B2: 'J', 0xA7B3: 'X',
    0xA7B4: 'B', 0xAB32: 'e', 0xAB35: 'f', 0xAB3D: 'o', 0xAB47: 'r',
    0xAB48: 'r', 0xAB4E: 'u', 0xAB52: 'u', 0xAB5A: 'y',
    # Greek small capital rho: the glyph of small capital P (Greek rho
    # already reads as p)
    0x1D29: 'p',
}

# Cyrillic letters that pass for Latin small capitals (т for ᴛ, н for ʜ,
# в for ʙ, к for ᴋ, м for ᴍ: "projecт neptuнe"). Whole Russian words are
# made of them and the letters above ("вот", "так", "нет"), so these fold
# only in a word that also has a Latin letter, never in an all-look-alike
# one, which would read "вот" as "bot".
MIXED_ONLY = {0x0432: 'b', 0x043A: 'k', 0x043C: 'm', 0x043D: 'h', 0x0442: 't'}

# Look-alikes in UTS #39 that are left alone on purpose. Most are letters
# of living orthographies, in words that also have Latin letters, so
# folding them would change those words: Icelandic thorn, Ewe f with hook
# and v with hook, gamma (Ewe, Kabyle, Dagbani, ...), iota (Kabiye, ...),
# the dental click (Khoekhoe). Turned m and Greek small capital gamma
# pass for w and r only as Cyrillic sha and ghe do, which are not folded
# either. Checked, so that no later edit folds them unnoticed.
NOT_FOLDED = [0x00FE, 0x0192, 0x0196, 0x01C0, 0x0263, 0x0269, 0x026F,
              0x028B, 0x1D26]

# Small capitals read as their letter ("ᴘʀᴏᴊᴇᴄᴛ" is "project"), and are
# written where small letters would be, so they fold to those. Every
# "LATIN LETTER SMALL CAPITAL X" and "LATIN CAPITAL LETTER SMALL CAPITAL X"
# of one letter X, by name, so a newer Unicode brings its own. Names
# longer than one letter are left out: ligatures (ᴁ ɶ), turned, reversed
# and inverted letters (ʁ ᴎ ᴙ ᴚ), letters with a stroke, hook, belt or leg
# (ᴃ ᴌ ʛ ꭆ), and letters that are no ASCII letter (ᴆ ᴣ ᴐ ᴕ ꝶ). The
# modifier small capitals (ᶦ ᶫ ᶰ ᶸ) become these by NFKC first.
SMALL_CAPITAL_NAMES = (('LATIN LETTER SMALL CAPITAL ', str.lower),
                       ('LATIN CAPITAL LETTER SMALL CAPITAL ', str.upper))


def small_capitals():
    out = {}
    for cp in range(0x80, 0x110000):
        name = ud.name(chr(cp), '')
        for prefix, case in SMALL_CAPITAL_NAMES:
            x = name[len(prefix):]
            if name.startswith(prefix) and len(x) == 1 and 'A' <= x <= 'Z':
                out[cp] = case(x)
    return out


def drop(cp):
    c = chr(cp)
    return ud.category(c) == 'Cf' or cp in EXTRA_DROP


def space(cp):
    return ud.category(chr(cp)) in ('Zs', 'Zl', 'Zp') or cp == 0x85


def fold_char(ch):
    """One character of an NFKC result, with the folds NFKC does not do."""
    cp = ord(ch)
    if cp < 0x80:
        return ch
    if drop(cp):
        return ''
    if space(cp):
        return ' '
    if cp in DASHES:
        return '-'
    if ud.category(ch) == 'Nd':
        return str(ud.decimal(ch))
    return ch


def mapping(cp):
    """The base mapping of cp, or None when it maps to itself."""
    c = chr(cp)
    if 0xE0020 <= cp <= 0xE007E:
        # tag characters spell ASCII invisibly ("ASCII smuggling"); models
        # read them, so the filters read them as the ASCII they spell
        return chr(cp - 0xE0000)
    if drop(cp):
        return ''
    if space(cp):
        return ' '
    if cp in DASHES:
        return '-'
    n = ud.normalize('NFKC', c)
    out = ''.join(fold_char(ch) for ch in n) if n != c else fold_char(c)
    return None if out == c else out


def main():
    keys, pool, offs = [], bytearray(), []
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        m = mapping(cp)
        if m is None:
            continue
        b = m.encode('utf-8')
        assert len(b) < 256
        keys.append(cp)
        offs.append(len(pool))
        pool += b
    offs.append(len(pool))
    assert len(pool) < 65536
    blocks = bytearray((0x110000 >> 8) // 8)
    for cp in keys:
        blocks[(cp >> 8) // 8] |= 1 << ((cp >> 8) % 8)
    caps = small_capitals()
    assert not set(caps) & set(CONFUSABLES)
    assert not set(MIXED_ONLY) & (set(caps) | set(CONFUSABLES))
    conf = sorted(list(CONFUSABLES.items()) + list(caps.items())
                  + list(MIXED_ONLY.items()))
    for cp, a in conf:
        assert mapping(cp) is None, hex(cp)
        assert cp not in NOT_FOLDED, hex(cp)

    w = sys.stdout.write
    w('/* Generated by lib/normalize_gen.py from Unicode %s; do not edit. */\n'
      % ud.unidata_version)
    w('#define NT_UNICODE_VERSION "%s"\n' % ud.unidata_version)
    w('#define NT_NKEYS %d\n' % len(keys))
    w('#define NT_NCONF %d\n\n' % len(conf))
    w('/* bit (cp >> 8): some code point of that block of 256 has a mapping */\n')
    w('static const uint8_t nt_blocks[%d] = {\n' % len(blocks))
    for i in range(0, len(blocks), 16):
        w('    ' + ', '.join('0x%02x' % x for x in blocks[i:i + 16]) + ',\n')
    w('};\n\n/* code points with a mapping, ascending */\n')
    w('static const uint32_t nt_keys[NT_NKEYS] = {\n')
    for i in range(0, len(keys), 8):
        w('    ' + ', '.join('0x%05x' % x for x in keys[i:i + 8]) + ',\n')
    w('};\n\n/* mapping of nt_keys[i]: nt_pool[nt_off[i] .. nt_off[i + 1]) (UTF-8) */\n')
    w('static const uint16_t nt_off[NT_NKEYS + 1] = {\n')
    for i in range(0, len(offs), 10):
        w('    ' + ', '.join('%d' % x for x in offs[i:i + 10]) + ',\n')
    w('};\n\nstatic const uint8_t nt_pool[%d] = {\n' % max(len(pool), 1))
    for i in range(0, len(pool), 16):
        w('    ' + ', '.join('0x%02x' % x for x in pool[i:i + 16]) + ',\n')
    w('};\n\n/* letters that pass for a Latin letter, ascending, and that letter */\n')
    w('static const uint32_t nt_conf_keys[NT_NCONF] = {\n')
    for i in range(0, len(conf), 8):
        w('    ' + ', '.join('0x%05x' % cp for cp, _ in conf[i:i + 8]) + ',\n')
    w('};\n\nstatic const char nt_conf_latin[NT_NCONF + 1] =\n    "%s";\n'
      % ''.join(a for _, a in conf))
    w('\n/* of those, the ones folded only in a word with a Latin letter */\n')
    w('#define NT_MIXED_ONLY(c) (%s)\n'
      % ' || '.join('(c) == 0x%04x' % cp for cp in sorted(MIXED_ONLY)))


if __name__ == '__main__':
    main()
