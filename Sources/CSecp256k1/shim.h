#ifndef SHARECHAIN_CSECP256K1_SHIM_H
#define SHARECHAIN_CSECP256K1_SHIM_H
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

/* Swift 6 rejects the mutable-looking C global `secp256k1_context_static` as not
   concurrency-safe. The static context is immutable and documented as safe for
   verification from any thread, so hand it out through a function instead. */
static inline const secp256k1_context *sharechain_secp256k1_context_static(void) {
    return secp256k1_context_static;
}

/* BIP-340 signing of a message of any length with caller-supplied auxiliary randomness.
   SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT is a macro Swift cannot import, so the
   parameters are set up here. */
static inline int sharechain_schnorrsig_sign(const secp256k1_context *ctx, unsigned char *sig64,
                                             const unsigned char *msg, size_t msglen,
                                             const secp256k1_keypair *keypair,
                                             const unsigned char *aux32) {
    secp256k1_schnorrsig_extraparams params = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
    params.ndata = (void *)aux32;
    return secp256k1_schnorrsig_sign_custom(ctx, sig64, msg, msglen, keypair, &params);
}
#endif
