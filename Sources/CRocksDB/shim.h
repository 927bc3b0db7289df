#ifndef SHARECHAIN_CROCKSDB_SHIM_H
#define SHARECHAIN_CROCKSDB_SHIM_H
#include <rocksdb/c.h>
#endif
