#include "cbaseline_rocksdb.h"
#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { KEY_SIZE = 32 };

/* SplitMix64: cheap, deterministic, and the same generator the Swift benchmark uses for its keys. */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int compare_keys(const void *a, const void *b) { return memcmp(a, b, KEY_SIZE); }

static void copy_error(char *dst, size_t len, const char *msg) {
    if (dst == NULL || len == 0) return;
    strncpy(dst, msg, len - 1);
    dst[len - 1] = 0;
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

int64_t cbaseline_rocksdb_batched_puts(const char *path, int64_t batches, int64_t keys_per_batch,
                                       int64_t value_size, uint64_t seed, int sorted,
                                       uint64_t *elapsed_ns, char *err, size_t err_len) {
    char *e = NULL;
    if (elapsed_ns != NULL) *elapsed_ns = 0;
    if (batches < 0 || keys_per_batch < 0 || value_size < 0) {
        copy_error(err, err_len, "negative argument");
        return -1;
    }
    size_t value_alloc = (size_t)(value_size > 0 ? value_size : 1);
    size_t keys_alloc = (size_t)(keys_per_batch > 0 ? keys_per_batch : 1) * KEY_SIZE;
    unsigned char *value = malloc(value_alloc);
    unsigned char *keys = malloc(keys_alloc);
    if (value == NULL || keys == NULL) {
        free(value);
        free(keys);
        copy_error(err, err_len, "out of memory");
        return -1;
    }
    memset(value, 0x5a, value_alloc);

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

    int64_t written = 0;
    rocksdb_t *db = rocksdb_open(opt, path, &e);
    if (e != NULL) {
        copy_error(err, err_len, e);
        rocksdb_free(e);
        written = -1;
    } else {
        rocksdb_writeoptions_t *wopt = rocksdb_writeoptions_create();
        rocksdb_writeoptions_set_sync(wopt, 1);
        rocksdb_writebatch_t *batch = rocksdb_writebatch_create();
        uint64_t state = seed;
        uint64_t total = 0;
        for (int64_t b = 0; b < batches; b++) {
            for (int64_t i = 0; i < keys_per_batch; i++) {
                for (int w = 0; w < KEY_SIZE / 8; w++) {
                    uint64_t r = next_u64(&state);
                    memcpy(keys + (size_t)i * KEY_SIZE + 8 * (size_t)w, &r, 8);
                }
            }
            if (sorted) qsort(keys, (size_t)keys_per_batch, KEY_SIZE, compare_keys);
            uint64_t t0 = now_ns();
            rocksdb_writebatch_clear(batch);
            for (int64_t i = 0; i < keys_per_batch; i++) {
                rocksdb_writebatch_put(batch, (const char *)keys + (size_t)i * KEY_SIZE, KEY_SIZE,
                                       (const char *)value, (size_t)value_size);
            }
            rocksdb_write(db, wopt, batch, &e);
            total += now_ns() - t0;
            if (e != NULL) {
                copy_error(err, err_len, e);
                rocksdb_free(e);
                written = -1;
                break;
            }
            written += keys_per_batch;
        }
        if (elapsed_ns != NULL) *elapsed_ns = total;
        rocksdb_writebatch_destroy(batch);
        rocksdb_writeoptions_destroy(wopt);
        rocksdb_close(db);
    }
    rocksdb_options_destroy(opt);
    rocksdb_block_based_options_destroy(table);
    rocksdb_cache_destroy(cache);
    free(keys);
    free(value);
    return written;
}
