/*
 * errors.c: kvidx_strerror() and kvidx_err_name() over the one error table
 * KVIDX_ERRNO_MAP in kvidx.h.
 */
#include "kvidx.h"

const char *kvidx_strerror(int err) {
  switch (err) {
  case 0:
    return "success";
#define KVIDX_STRERROR_(name, value, msg)                                      \
  case (value):                                                                \
    return (msg);
    KVIDX_ERRNO_MAP(KVIDX_STRERROR_)
#undef KVIDX_STRERROR_
  default:
    return "unknown error";
  }
}

const char *kvidx_err_name(int err) {
  switch (err) {
  case 0:
    return "KVIDX_OK";
#define KVIDX_ERR_NAME_(name, value, msg)                                      \
  case (value):                                                                \
    return "KVIDX_" #name;
    KVIDX_ERRNO_MAP(KVIDX_ERR_NAME_)
#undef KVIDX_ERR_NAME_
  default:
    return "KVIDX_EUNKNOWN";
  }
}

const char *kvidx_version(void) {
  return KVIDX_VERSION_STRING;
}
