package AigovJWT;

# Mints JWTs for the tests by a path independent of aigov's own code: the
# openssl command signs RS*/ES* tokens, Digest::SHA makes HS* ones.

use strict;
use warnings;

use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64);
use Digest::SHA qw(hmac_sha256 hmac_sha384 hmac_sha512);
use File::Temp qw(tempfile);

sub b64url {
    my $s = encode_base64($_[0], '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}

sub b64url_decode {
    my $s = $_[0];
    $s =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);
    return decode_base64($s);
}

# Generates a key pair with openssl into DIR; returns (private, public) paths.
sub keypair {
    my ($dir, $name, $type) = @_;
    my $priv = "$dir/$name.pem";
    my $pub = "$dir/$name.pub.pem";
    my $gen = $type eq 'rsa' ? "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048"
            : $type eq 'p256' ? "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"
            : $type eq 'p384' ? "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384"
            : die "unknown key type $type";
    system("$gen -out $priv 2>/dev/null") == 0 or die "genpkey $type failed";
    system("openssl pkey -in $priv -pubout -out $pub 2>/dev/null") == 0 or die "pubout failed";
    return ($priv, $pub);
}

my %hash = (256 => 'sha256', 384 => 'sha384', 512 => 'sha512');

# mint(alg => 'RS256', key => PEM path or HMAC secret, claims => {...},
#      header => {extra header fields}, kid => ...)
sub mint {
    my (%o) = @_;
    my $alg = $o{alg};
    my $h = { alg => $alg, typ => 'JWT', %{ $o{header} // {} } };
    $h->{kid} = $o{kid} if defined $o{kid};
    my $now = time;
    my $claims = { iat => $now, exp => $now + 600, %{ $o{claims} // {} } };
    for (keys %$claims) { delete $claims->{$_} unless defined $claims->{$_} }
    my $json = JSON::PP->new->canonical;
    my $input = b64url($json->encode($h)) . '.' . b64url($json->encode($claims));
    return "$input." if $alg eq 'none';
    my $sig;
    my ($kind, $bits) = $alg =~ /^(HS|RS|ES|PS)(\d+)$/ or die "alg $alg";
    if ($kind eq 'HS') {
        no strict 'refs';
        $sig = &{"hmac_sha$bits"}($input, $o{key});
    } else {
        my ($fh, $in) = tempfile(UNLINK => 1);
        print $fh $input;
        close $fh;
        my $der = `openssl dgst -$hash{$bits} -sign $o{key} $in`;
        die "openssl dgst failed" if $?;
        $sig = $kind eq 'ES' ? der_to_raw($der, $bits == 512 ? 66 : $bits / 8) : $der;
    }
    return "$input." . b64url($sig);
}

# The JWK of a PEM public key, read with the openssl command.
sub jwk {
    my ($pub, $kid) = @_;
    my $text = `openssl pkey -pubin -in $pub -text -noout 2>/dev/null`;
    die "openssl pkey failed" if $?;
    if ($text =~ /RSA Public-Key|Public-Key: \((\d+) bit\)\s*Modulus/s && $text =~ /Modulus:/) {
        my ($hex) = $text =~ /Modulus:\s*\n((?:\s+[0-9a-f:]+\n)+)/;
        $hex =~ s/[\s:]//g;
        $hex =~ s/^00//;
        my ($e) = $text =~ /Exponent: (\d+)/;
        my $eb = pack('N', $e);
        $eb =~ s/^\x00+//;
        return { kty => 'RSA', kid => $kid, n => b64url(pack('H*', $hex)), e => b64url($eb) };
    }
    my ($hex) = $text =~ /pub:\s*\n((?:\s+[0-9a-f:]+\n)+)/;
    $hex =~ s/[\s:]//g;
    my ($curve) = $text =~ /NIST CURVE: (P-\d+)/;
    my $raw = pack('H*', $hex);
    my $n = (length($raw) - 1) / 2;
    return { kty => 'EC', kid => $kid, crv => $curve,
             x => b64url(substr($raw, 1, $n)), y => b64url(substr($raw, 1 + $n, $n)) };
}

# ECDSA signatures in JWS are r || s of fixed width, not DER.
sub der_to_raw {
    my ($der, $n) = @_;
    my @b = unpack('C*', $der);
    my $i = 2;
    $i++ if $b[1] & 0x80;
    my @out;
    for (1 .. 2) {
        $b[$i] == 0x02 or die 'bad DER';
        my $len = $b[$i + 1];
        my $v = substr($der, $i + 2, $len);
        $v =~ s/^\x00+//;
        push @out, ("\x00" x ($n - length $v)) . $v;
        $i += 2 + $len;
    }
    return join '', @out;
}

1;
