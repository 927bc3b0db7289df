#ifndef SHARECHAIN_COPENSSL_SHIM_H
#define SHARECHAIN_COPENSSL_SHIM_H
/* The low-level SHA256_Init/Update/Final API is deprecated in OpenSSL 3 but is
   several times faster than EVP for the small inputs a chain hashes (EVP does a
   provider lookup and allocation per digest), and it lets us copy a midstate for
   tagged hashes. Silence the deprecation attributes for this header only. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <openssl/crypto.h>
/* Key files: scrypt (EVP_PBE_scrypt) and AES-256-GCM through the EVP cipher API. */
#include <openssl/evp.h>
#endif
