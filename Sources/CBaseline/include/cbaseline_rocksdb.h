#ifndef SHARECHAIN_CBASELINE_ROCKSDB_H
#define SHARECHAIN_CBASELINE_ROCKSDB_H
#include <stdint.h>
#include <stddef.h>
/* Baseline for `sharechain-bench storage`: batched random puts through the RocksDB C API directly, with
   the same tuning the Storage module applies to its state column family (Specs/storage.md, "Options"),
   so the chain store's commit rate can be reported as a ratio of what RocksDB itself does here. */

/* Opens (creating) a database at `path`, then writes `batches` write batches of `keys_per_batch` puts
   each (32-byte pseudo-random keys from `seed`, `value_size`-byte values), every batch with sync=true.
   With `sorted` nonzero each batch's keys are put in ascending order (as a ledger write set is).
   `elapsed_ns` receives the time spent filling and writing batches only: not open or close, not
   generating or sorting keys. Returns the number of keys written, or -1 on any error (message copied
   into `err`, at most `err_len` bytes including the terminator). */
int64_t cbaseline_rocksdb_batched_puts(const char *path, int64_t batches, int64_t keys_per_batch,
                                       int64_t value_size, uint64_t seed, int sorted,
                                       uint64_t *elapsed_ns, char *err, size_t err_len);
#endif
