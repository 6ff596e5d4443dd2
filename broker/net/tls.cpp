#include "broker/net/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "common/log.h"

namespace fieldgate::net {
namespace {

// Mozilla's "intermediate" TLS 1.2 list without the DHE suites: forward secrecy, AEAD only.
// TLS 1.3 uses OpenSSL's defaults (AES-GCM and ChaCha20-Poly1305).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// OpenSSL's queued errors as one line (and the queue emptied).
std::string openssl_errors() {
  std::string text;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    // "error:0A000412:SSL routines::sslv3 alert bad certificate" -> the part after the last ':'
    std::string_view line(buf);
    size_t colon = line.rfind(':');
    std::string_view reason = colon == std::string_view::npos ? line : line.substr(colon + 1);
    if (reason.empty()) reason = line;
    if (!text.empty()) text += "; ";
    text += reason;
  }
  return text.empty() ? "unknown TLS error" : text;
}

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<FILE, FileCloser> open_file(const std::string& path, const char* what) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    throw TlsConfigError(std::string(what) + " " + path +
                         ": cannot read it: " + std::strerror(errno) +
                         "; check the path and that the user fieldgate runs as may read it");
  }
  return std::unique_ptr<FILE, FileCloser>(f);
}

std::string asn1_time_text(const ASN1_TIME* t) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return "?";
  ASN1_TIME_print(bio, t);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string text(data, n > 0 ? static_cast<size_t>(n) : 0);
  BIO_free(bio);
  return text;
}

std::unique_ptr<X509, X509Free> read_certificate(const std::string& path) {
  auto file = open_file(path, "tls_cert");
  X509* cert = PEM_read_X509(file.get(), nullptr, nullptr, nullptr);
  if (!cert) {
    ERR_clear_error();
    throw TlsConfigError("tls_cert " + path +
                         ": not a PEM certificate (expected \"-----BEGIN CERTIFICATE-----\"); "
                         "point tls_cert at the server certificate");
  }
  return std::unique_ptr<X509, X509Free>(cert);
}

std::unique_ptr<EVP_PKEY, PkeyFree> read_key(const std::string& path) {
  auto file = open_file(path, "tls_key");
  // An empty passphrase callback: an encrypted key fails here instead of prompting.
  auto no_passphrase = [](char*, int, int, void*) -> int { return 0; };
  EVP_PKEY* key = PEM_read_PrivateKey(file.get(), nullptr, no_passphrase, nullptr);
  if (!key) {
    ERR_clear_error();
    throw TlsConfigError("tls_key " + path +
                         ": not a PEM private key, or one encrypted with a passphrase; "
                         "fieldgate needs an unencrypted key (openssl pkey -in KEY -out "
                         "KEY.plain), readable only by the user it runs as");
  }
  return std::unique_ptr<EVP_PKEY, PkeyFree>(key);
}

void check_validity(X509* cert, const std::string& path) {
  const ASN1_TIME* not_after = X509_get0_notAfter(cert);
  if (X509_cmp_current_time(not_after) < 0) {
    throw TlsConfigError("tls_cert " + path + ": the certificate expired on " +
                         asn1_time_text(not_after) + "; renew it (or check the system clock)");
  }
  const ASN1_TIME* not_before = X509_get0_notBefore(cert);
  if (X509_cmp_current_time(not_before) > 0) {
    log::warn("broker", "tls_cert ", path, ": the certificate is valid only from ",
              asn1_time_text(not_before), "; check the system clock (clients will refuse it)");
  }
}

}  // namespace

// --- TlsContext ---

TlsContext::TlsContext(const TlsSettings& s) {
  // Check the files one by one first, so that the error names the file and the fault.
  auto cert = read_certificate(s.cert_file);
  check_validity(cert.get(), s.cert_file);
  auto key = read_key(s.key_file);
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    throw TlsConfigError("tls_key " + s.key_file + " does not match the certificate in tls_cert " +
                         s.cert_file + "; give the key the certificate was made for");
  }
  if (!s.ca_file.empty()) open_file(s.ca_file, "tls_ca");

  ctx_ = SSL_CTX_new(TLS_server_method());
  if (!ctx_) throw TlsConfigError("cannot create a TLS context: " + openssl_errors());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx_, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx_, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                             SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx_, kTls12Ciphers) != 1) {
    throw TlsConfigError("cannot set the TLS 1.2 ciphers: " + openssl_errors());
  }
  if (SSL_CTX_use_certificate_chain_file(ctx_, s.cert_file.c_str()) != 1) {
    throw TlsConfigError("tls_cert " + s.cert_file + ": " + openssl_errors());
  }
  if (SSL_CTX_use_PrivateKey(ctx_, key.get()) != 1 || SSL_CTX_check_private_key(ctx_) != 1) {
    throw TlsConfigError("tls_key " + s.key_file + ": " + openssl_errors());
  }
  static const unsigned char kSessionContext[] = "fieldgate";
  SSL_CTX_set_session_id_context(ctx_, kSessionContext, sizeof kSessionContext - 1);
  if (!s.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, s.ca_file.c_str(), nullptr) != 1) {
      throw TlsConfigError("tls_ca " + s.ca_file + ": no PEM certificate could be read (" +
                           openssl_errors() + "); point tls_ca at the CA certificate(s)");
    }
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(ctx_, names);
    }
    ERR_clear_error();
    SSL_CTX_set_verify(
        ctx_, SSL_VERIFY_PEER | (s.require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
        nullptr);
  }
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

// --- TlsSession ---

TlsSession::TlsSession(const TlsContext& context, int fd) : ssl_(SSL_new(context.get())) {
  if (!ssl_ || SSL_set_fd(ssl_, fd) != 1) {
    failed_ = true;
    error_ = openssl_errors();
    return;
  }
  SSL_set_accept_state(ssl_);
}

TlsSession::~TlsSession() {
  SSL_free(ssl_);
}

TlsSession::Status TlsSession::fail(int ret) {
  int e = SSL_get_error(ssl_, ret);
  switch (e) {
    case SSL_ERROR_WANT_READ:
      return Status::WantRead;
    case SSL_ERROR_WANT_WRITE:
      return Status::WantWrite;
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return Status::Closed;
    case SSL_ERROR_SYSCALL:
      failed_ = true;
      if (ERR_peek_error() != 0) {
        error_ = openssl_errors();
      } else if (errno != 0) {
        error_ = std::strerror(errno);
      } else {
        return Status::Closed;
      }
      return Status::Failed;
    default:
      failed_ = true;
      error_ = openssl_errors();
      return Status::Failed;
  }
}

TlsSession::Status TlsSession::handshake() {
  if (failed_) return Status::Failed;
  errno = 0;
  int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    handshake_done_ = true;
    return Status::Done;
  }
  Status status = fail(ret);
  if (status == Status::Closed) failed_ = true;  // the peer went away mid-handshake
  return status;
}

size_t TlsSession::read(char* buf, size_t size, Status& status) {
  errno = 0;
  int ret = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(size, 1 << 30)));
  if (ret > 0) {
    status = Status::Done;
    return static_cast<size_t>(ret);
  }
  status = fail(ret);
  return 0;
}

bool TlsSession::pending() const {
  return SSL_pending(ssl_) > 0;
}

size_t TlsSession::write(const char* data, size_t size, Status& status) {
  errno = 0;
  int ret = SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(size, 1 << 30)));
  if (ret > 0) {
    status = Status::Done;
    return static_cast<size_t>(ret);
  }
  status = fail(ret);
  if (status == Status::Closed) status = Status::Failed;
  return 0;
}

void TlsSession::shutdown() {
  if (!ssl_ || failed_ || !handshake_done_) return;
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

std::string TlsSession::version() const {
  return SSL_get_version(ssl_);
}

std::optional<std::string> TlsSession::peer_common_name() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (!cert || SSL_get_verify_result(ssl_) != X509_V_OK) return std::nullopt;
  X509_NAME* name = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return std::nullopt;
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return std::nullopt;
  std::string cn(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  if (cn.empty() || cn.find('\0') != std::string::npos) return std::nullopt;
  return cn;
}

}  // namespace fieldgate::net
