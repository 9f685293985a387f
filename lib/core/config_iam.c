/*
 * The iam* configuration keys: a handle opened with iamUser (and iamCache, iamRegion,
 * iamServerless) gets an ElastiCache IAM provider (vmux/iam.h) as its credentials provider, the
 * same hook a program would set with vmux_config_set_credentials_provider(), made and owned by
 * the handle's copy of the config.
 */
#include "core/config_internal.h"
#include "core/errbuf.h"
#include "vmux/error.h"
#include "vmux/iam.h"

int vmux__config_iam_install(vmux_config *cfg, char *errbuf, size_t errlen)
{
    /* the key that asks for IAM without iamUser (probe28: iamRegion alone was taken silently) */
    const char *orphan = cfg->iam_cache != NULL    ? "iamCache is set but iamUser is not"
                         : cfg->iam_region != NULL ? "iamRegion is set but iamUser is not"
                         : cfg->iam_serverless     ? "iamServerless is set but iamUser is not"
                                                   : NULL;
    if (cfg->iam_user == NULL && orphan == NULL)
        return 0;
    const char *why = cfg->iam_user == NULL    ? orphan
                      : cfg->iam_cache == NULL ? "iamUser is set but iamCache is not"
                      : cfg->credentials_fn != NULL
                          ? "iamUser and a credentials provider are both set: use one"
                          : NULL;
    if (why != NULL) {
        vmux__errbuf_set(errbuf, errlen, "%s", why);
        return VMUX_ERR_CONFIG;
    }
    vmux_iam_provider *p = NULL;
    int rc = vmux_iam_provider_new(&VMUX_INIT(vmux_iam_opts, .user = cfg->iam_user,
                                              .cache = cfg->iam_cache, .region = cfg->iam_region,
                                              .serverless = cfg->iam_serverless),
                                   &p, errbuf, errlen);
    if (rc != 0)
        return rc;
    cfg->credentials_fn = vmux_iam_credentials;
    cfg->credentials_userdata = p;
    cfg->iam_owned = p;
    return 0;
}
