#include "cbaseline_rocksdb.h"
#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>

/* SplitMix64: cheap, deterministic, and the same generator the Swift benchmark uses for its keys. */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void copy_error(char *dst, size_t len, const char *msg) {
    if (dst == NULL || len == 0) return;
    strncpy(dst, msg, len - 1);
    dst[len - 1] = 0;
}

int64_t cbaseline_rocksdb_batched_puts(const char *path, int64_t batches, int64_t keys_per_batch,
                                       int64_t value_size, uint64_t seed, char *err, size_t err_len) {
    char *e = NULL;
    int64_t written = -1;

    /* Mirrors Storage's tuning for the state column family (RocksOptions.swift). */
    rocksdb_options_t *opt = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(opt, 1);
    rocksdb_options_set_max_background_jobs(opt, 2);
    rocksdb_options_set_bytes_per_sync(opt, 1 << 20);
    rocksdb_options_set_max_total_wal_size(opt, 512ULL << 20);
    rocksdb_options_set_write_buffer_size(opt, 64ULL << 20);
    rocksdb_options_set_max_write_buffer_number(opt, 4);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(opt, 1);
    rocksdb_options_set_compression(opt, rocksdb_lz4_compression);
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(opt, 0.02);
    rocksdb_options_set_memtable_whole_key_filtering(opt, 1);
    rocksdb_block_based_table_options_t *table = rocksdb_block_based_options_create();
    rocksdb_cache_t *cache = rocksdb_cache_create_lru(128ULL << 20);
    rocksdb_block_based_options_set_block_cache(table, cache);
    rocksdb_block_based_options_set_filter_policy(table, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(table, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(table, 1);
    rocksdb_block_based_options_set_format_version(table, 5);
    rocksdb_options_set_block_based_table_factory(opt, table);

    rocksdb_t *db = rocksdb_open(opt, path, &e);
    if (e != NULL) {
        copy_error(err, err_len, e);
        rocksdb_free(e);
        goto done_options;
    }

    rocksdb_writeoptions_t *wopt = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wopt, 1);
    rocksdb_writebatch_t *batch = rocksdb_writebatch_create();
    unsigned char *value = malloc((size_t)(value_size > 0 ? value_size : 1));
    memset(value, 0x5a, (size_t)(value_size > 0 ? value_size : 1));
    uint64_t state = seed;
    unsigned char key[32];
    written = 0;
    for (int64_t b = 0; b < batches; b++) {
        rocksdb_writebatch_clear(batch);
        for (int64_t i = 0; i < keys_per_batch; i++) {
            for (int w = 0; w < 4; w++) {
                uint64_t r = next_u64(&state);
                memcpy(key + 8 * w, &r, 8);
            }
            rocksdb_writebatch_put(batch, (const char *)key, sizeof key, (const char *)value, (size_t)value_size);
        }
        rocksdb_write(db, wopt, batch, &e);
        if (e != NULL) {
            copy_error(err, err_len, e);
            rocksdb_free(e);
            written = -1;
            break;
        }
        written += keys_per_batch;
    }
    free(value);
    rocksdb_writebatch_destroy(batch);
    rocksdb_writeoptions_destroy(wopt);
    rocksdb_close(db);
done_options:
    rocksdb_options_destroy(opt);
    rocksdb_block_based_options_destroy(table);
    rocksdb_cache_destroy(cache);
    return written;
}
