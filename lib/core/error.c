#include "vmux/error.h"

const char *vmux_strerror(int err)
{
    switch (err) {
    case VMUX_OK:
        return "success";
#define VMUX_STRERROR_CASE_(name, value, text)                                                     \
    case VMUX_ERR_##name:                                                                          \
        return text;
        VMUX_ERRNO_MAP(VMUX_STRERROR_CASE_)
#undef VMUX_STRERROR_CASE_
    default:
        return "unknown error";
    }
}

const char *vmux_err_name(int err)
{
    switch (err) {
    case VMUX_OK:
        return "VMUX_OK";
#define VMUX_ERR_NAME_CASE_(name, value, text)                                                     \
    case VMUX_ERR_##name:                                                                          \
        return "VMUX_ERR_" #name;
        VMUX_ERRNO_MAP(VMUX_ERR_NAME_CASE_)
#undef VMUX_ERR_NAME_CASE_
    default:
        return "VMUX_ERR_UNKNOWN";
    }
}
