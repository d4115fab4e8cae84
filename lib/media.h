/*
 * media: the kinds of binary media a request carries (images, audio,
 * files that are not text). No filter reads them; lib/request finds them,
 * a policy's `when: media` names them, and the audit record lists them,
 * by these names, so that a replay decides alike.
 */
#ifndef AIGOV_MEDIA_H
#define AIGOV_MEDIA_H

#include <stddef.h>
#include <string.h>

#define AIGOV_MEDIA_IMAGE  1u     /* an image, inline or by URL or file id */
#define AIGOV_MEDIA_AUDIO  2u     /* audio input */
#define AIGOV_MEDIA_FILE   4u     /* a file no filter reads: a PDF or any
                                     file not of text, inline, by URL or
                                     by file id */
#define AIGOV_MEDIA_KINDS  3

static const char *const aigov_media_names[AIGOV_MEDIA_KINDS] = { "image", "audio", "file" };

/* The bit of a kind's name (n bytes), 0 when it names none. */
static inline unsigned aigov_media_bit(const char *s, size_t n)
{
    unsigned i;

    for (i = 0; i < AIGOV_MEDIA_KINDS; i++)
        if (strlen(aigov_media_names[i]) == n && memcmp(aigov_media_names[i], s, n) == 0)
            return 1u << i;
    return 0;
}

#endif
