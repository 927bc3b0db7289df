#ifndef SHARECHAIN_COPENSSL_SHIM_H
#define SHARECHAIN_COPENSSL_SHIM_H
/* The low-level SHA256_Init/Update/Final API is deprecated in OpenSSL 3 but is
   several times faster than EVP for the small inputs a chain hashes (EVP does a
   provider lookup and allocation per digest), and it lets us copy a midstate for
   tagged hashes. Silence the deprecation attributes for this header only. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stddef.h>

/* Thin glue for the P2P transport (Noise_XX_25519_ChaChaPoly_SHA256, Specs/p2p.md): ChaCha20-Poly1305
   and HMAC-SHA256 are OpenSSL's (X25519 is swift-crypto's, see Sources/P2P/Noise/NoiseCrypto.swift);
   these helpers only sequence EVP calls and turn C macros Swift cannot import into functions.
   All return 1 on success and 0 on any failure. */

/* ChaCha20-Poly1305 (RFC 8439) with a context kept per key: sc_aead_init sets cipher, key and direction
   once; each seal/open then only sets the 12-byte nonce. */
static inline int sc_aead_init(EVP_CIPHER_CTX *ctx, const uint8_t *key, int encrypt) {
    return EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key, NULL, encrypt) == 1;
}

/* out receives ptlen ciphertext bytes followed by the 16-byte tag. */
static inline int sc_aead_seal(EVP_CIPHER_CTX *ctx, const uint8_t *nonce, const uint8_t *ad, size_t adlen,
                               const uint8_t *pt, size_t ptlen, uint8_t *out) {
    int len = 0;
    if (ptlen > 0x7fffffff || adlen > 0x7fffffff) return 0;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 1) != 1) return 0;
    if (adlen > 0 && EVP_CipherUpdate(ctx, NULL, &len, ad, (int)adlen) != 1) return 0;
    if (ptlen > 0 && EVP_CipherUpdate(ctx, out, &len, pt, (int)ptlen) != 1) return 0;
    if (EVP_CipherFinal_ex(ctx, out + ptlen, &len) != 1) return 0;
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + ptlen) == 1;
}

/* ct is ctlen bytes including the trailing 16-byte tag; out receives ctlen - 16 bytes. Fails (and the
   output must be discarded) when the tag does not verify. */
static inline int sc_aead_open(EVP_CIPHER_CTX *ctx, const uint8_t *nonce, const uint8_t *ad, size_t adlen,
                               const uint8_t *ct, size_t ctlen, uint8_t *out) {
    int len = 0;
    if (ctlen < 16 || ctlen > 0x7fffffff || adlen > 0x7fffffff) return 0;
    size_t n = ctlen - 16;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 0) != 1) return 0;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(ct + n)) != 1) return 0;
    if (adlen > 0 && EVP_CipherUpdate(ctx, NULL, &len, ad, (int)adlen) != 1) return 0;
    if (n > 0 && EVP_CipherUpdate(ctx, out, &len, ct, (int)n) != 1) return 0;
    return EVP_CipherFinal_ex(ctx, out + n, &len) == 1;
}

/* HMAC-SHA256 (RFC 2104) into out[32]. */
static inline int sc_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *data, size_t datalen, uint8_t *out) {
    unsigned int n = 32;
    return HMAC(EVP_sha256(), key, (int)keylen, data, datalen, out, &n) != NULL && n == 32;
}

#endif
