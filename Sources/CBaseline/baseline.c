#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "cbaseline.h"
#include <openssl/sha.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>
#include <string.h>

uint64_t cbaseline_sha256_64(int64_t n) {
    unsigned char msg[64], out[32];
    memset(msg, 0xab, sizeof msg);
    uint64_t acc = 0;
    for (int64_t i = 0; i < n; i++) {
        SHA256_CTX c;
        SHA256_Init(&c);
        SHA256_Update(&c, msg, sizeof msg);
        SHA256_Final(out, &c);
        acc += out[0];
    }
    return acc;
}

static const unsigned char kSecret[32] = {
    0xb7, 0xe1, 0x51, 0x62, 0x8a, 0xed, 0x2a, 0x6a, 0xbf, 0x71, 0x58, 0x80, 0x9c, 0xf4, 0xf3, 0xc7,
    0x62, 0xe7, 0x16, 0x0f, 0x38, 0xb4, 0xda, 0x56, 0xa7, 0x84, 0xd9, 0x04, 0x51, 0x90, 0xcf, 0xef};

uint64_t cbaseline_schnorr_sign(int64_t n) {
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    secp256k1_keypair kp;
    unsigned char msg[32], sig[64], aux[32];
    memset(msg, 0x42, sizeof msg);
    memset(aux, 0, sizeof aux);
    if (!secp256k1_keypair_create(ctx, &kp, kSecret)) return 0;
    uint64_t acc = 0;
    for (int64_t i = 0; i < n; i++) {
        acc += (uint64_t)secp256k1_schnorrsig_sign32(ctx, sig, msg, &kp, aux);
    }
    secp256k1_context_destroy(ctx);
    return acc;
}

uint64_t cbaseline_schnorr_verify(int64_t n) {
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    secp256k1_keypair kp;
    secp256k1_xonly_pubkey pk;
    unsigned char msg[32], sig[64], aux[32], pk32[32];
    memset(msg, 0x42, sizeof msg);
    memset(aux, 0, sizeof aux);
    if (!secp256k1_keypair_create(ctx, &kp, kSecret)) return 0;
    if (!secp256k1_schnorrsig_sign32(ctx, sig, msg, &kp, aux)) return 0;
    if (!secp256k1_keypair_xonly_pub(ctx, &pk, NULL, &kp)) return 0;
    secp256k1_xonly_pubkey_serialize(ctx, pk32, &pk);
    uint64_t ok = 0;
    for (int64_t i = 0; i < n; i++) {
        secp256k1_xonly_pubkey parsed;
        if (secp256k1_xonly_pubkey_parse(ctx, &parsed, pk32) &&
            secp256k1_schnorrsig_verify(ctx, sig, msg, sizeof msg, &parsed)) ok++;
    }
    secp256k1_context_destroy(ctx);
    return ok;
}
