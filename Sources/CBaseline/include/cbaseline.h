#ifndef SHARECHAIN_CBASELINE_H
#define SHARECHAIN_CBASELINE_H
#include <stdint.h>
#include <stddef.h>
/* Baselines for `sharechain-bench`: the C libraries driven directly from C, so a Swift figure can be
   reported as a ratio against what the library itself achieves on this machine in the same run. */

/* n SHA-256 digests of a 64-byte message with the low-level OpenSSL API; returns a checksum. */
uint64_t cbaseline_sha256_64(int64_t n);
/* n BIP-340 signatures of a 32-byte message with one keypair. */
uint64_t cbaseline_schnorr_sign(int64_t n);
/* n BIP-340 verifications (parse x-only key + verify) of one valid signature; returns successes. */
uint64_t cbaseline_schnorr_verify(int64_t n);
#endif
