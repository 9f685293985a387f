/* vmux__server_busy() (busy.h). */
#include "core/busy.h"

#include <string.h>

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool vmux__server_busy(const char *msg)
{
    return msg != NULL &&
           (starts_with(msg, "LOADING") || starts_with(msg, "MASTERDOWN") ||
            starts_with(msg, "TRYAGAIN") || starts_with(msg, "CLUSTERDOWN") ||
            starts_with(msg, "UNBLOCKED force unblock from blocking operation, instance state"));
}
