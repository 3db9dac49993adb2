/*
 * version.c - the version of the library itself, as opposed to the header's.
 */
#include <polyws/polyws.h>

const char *pws_version(void)
{
    return PWS_VERSION_STRING; /* expanded when the library is built */
}
