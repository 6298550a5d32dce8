/* iocmgrVersion.h - the version $(P)VERSION shows. */
#ifndef IOCMGR_VERSION_H
#define IOCMGR_VERSION_H
#define IOCMGR_VERSION "0.1.0"
#endif
