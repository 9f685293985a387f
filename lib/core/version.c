#include "vmux/version.h"

const char *vmux_version(void)
{
    return VMUX_VERSION_STRING;
}

unsigned vmux_version_hex(void)
{
    return VMUX_VERSION_HEX;
}
