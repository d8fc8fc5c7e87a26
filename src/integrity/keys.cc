// integrity/keys.cc — Ed25519 keys through OpenSSL's EVP interface: PEM
// encoding, signing, verification, and writing a new key pair to disk.
//
// OpenSSL failures become Status values carrying OpenSSL's reason; nothing
// here prints. A library must not write to a descriptor it did not open:
// in a process that closed stderr, fd 2 may well be a store file.
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include "io/errno_status.h"
#include "quipu/checkpoint.h"

namespace quipu {

// Owns one EVP_PKEY; shared (read-only) by every copy of a key object.
// OpenSSL documents EVP_PKEY as safe for concurrent signing and verifying
// once it is no longer modified.
struct VerifyingKey::Impl {
  Impl(EVP_PKEY* k, std::string raw_public) : pkey(k), raw(std::move(raw_public)) {}
  ~Impl() { EVP_PKEY_free(pkey); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  EVP_PKEY* pkey;
  // The 32 raw public key bytes, read once when the key is made, so that
  // Raw() and SigningKey::Public() have no OpenSSL call left that could fail.
  const std::string raw;
};

namespace {

using Impl = VerifyingKey::Impl;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// OpenSSL keeps errors on a thread-local queue; take the newest reason for
// our message and clear the rest so it cannot leak into a later call.
std::string OpenSslError() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

// Failures that can only mean memory exhaustion or a broken OpenSSL install.
// No caller can repair them, but each can report them.
Status CryptoFailed(std::string_view what) {
  return Status::IOError("OpenSSL " + std::string(what) + " failed: " + OpenSslError());
}

Result<PkeyPtr> CheckEd25519(EVP_PKEY* raw, std::string_view what) {
  PkeyPtr key(raw);
  if (key == nullptr) {
    return Status::InvalidArgument("not a PEM " + std::string(what) + ": " + OpenSslError());
  }
  if (EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) {
    return Status::InvalidArgument(std::string(what) + " is not an Ed25519 key");
  }
  return key;
}

// Takes ownership of `key` (an Ed25519 key) and reads its public half.
Result<std::shared_ptr<const Impl>> MakeImpl(PkeyPtr key) {
  std::string raw(kEd25519PublicKeySize, '\0');
  size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(raw.data()), &len) !=
          1 ||
      len != kEd25519PublicKeySize) {
    return CryptoFailed("EVP_PKEY_get_raw_public_key");
  }
  return std::make_shared<const Impl>(key.release(), std::move(raw));
}

Result<BioPtr> ReadBio(std::string_view pem) {
  // BIO_new_mem_buf takes an int length, and a negative one means strlen.
  if (pem.size() > 64 * 1024) return Status::InvalidArgument("PEM text is too large for a key");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return CryptoFailed("BIO_new_mem_buf");
  return bio;
}

// Writes whatever `write` puts into a memory BIO and returns it as a string.
template <typename WriteFn>
Result<std::string> PemText(WriteFn write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || write(bio.get()) != 1) return CryptoFailed("PEM write");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// A key file is a path the user chose, not a file inside a store directory,
// so a symlink to it (a mounted secret, say) is theirs to make: resolve it
// here, as the Env refuses to follow links. If resolving fails, the Env's
// open of the path as given reports why.
std::string ResolvedKeyPath(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) return path;
  std::string out(resolved);
  std::free(resolved);
  return out;
}

Result<std::string> ReadWholeFile(Env* env, const std::string& path) {
  Result<std::unique_ptr<RandomAccessFile>> file = env->NewRandomAccessFile(ResolvedKeyPath(path));
  if (!file.ok()) return file.status();
  Result<uint64_t> size = (*file)->Size();
  if (!size.ok()) return size.status();
  // A PEM key is a few hundred bytes; anything large is the wrong file.
  if (*size > 64 * 1024) return Status::InvalidArgument(path + " is too large to be a key file");
  std::string text;
  QUIPU_RETURN_IF_ERROR((*file)->Read(0, static_cast<size_t>(*size), &text));
  return text;
}

// Creates `path` with `mode` (never replacing a file), writes `text`, fsyncs.
// POSIX directly rather than the Env: the Env cannot set a file mode, and a
// private key must never exist, even briefly, with a readable mode.
Status WriteNewFile(const std::string& path, std::string_view text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0 && errno == EEXIST) {
    return Status::InvalidArgument(path + " already exists; refusing to overwrite a key");
  }
  if (fd < 0) return ErrnoStatus("open", path, errno);
  Status s;
  size_t done = 0;
  while (s.ok() && done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) s = ErrnoStatus("write", path, errno);
    if (n > 0) done += static_cast<size_t>(n);
  }
  // The umask may have narrowed `mode`; a public key should still be readable.
  if (s.ok() && ::fchmod(fd, mode) != 0) s = ErrnoStatus("fchmod", path, errno);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("fsync", path, errno);
  ::close(fd);
  return s;
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

// --- VerifyingKey -----------------------------------------------------------

Result<VerifyingKey> VerifyingKey::Load(Env* env, const std::string& pem_path) {
  Result<std::string> pem = ReadWholeFile(env, pem_path);
  if (!pem.ok()) return pem.status();
  Result<VerifyingKey> key = FromPem(*pem);
  if (!key.ok()) return key.status().WithContext(pem_path);
  return key;
}

Result<VerifyingKey> VerifyingKey::FromPem(std::string_view pem) {
  // Handing the private key where the public one is expected is a common
  // slip, and the private key must not travel to verifiers: say so.
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    return Status::InvalidArgument("this is a private key; verifiers need the public key (.pub)");
  }
  Result<BioPtr> bio = ReadBio(pem);
  if (!bio.ok()) return bio.status();
  Result<PkeyPtr> key =
      CheckEd25519(PEM_read_bio_PUBKEY(bio->get(), nullptr, nullptr, nullptr), "public key");
  if (!key.ok()) return key.status();
  Result<std::shared_ptr<const Impl>> impl = MakeImpl(std::move(*key));
  if (!impl.ok()) return impl.status();
  return VerifyingKey(std::move(*impl));
}

Result<VerifyingKey> VerifyingKey::FromRaw(std::string_view raw) {
  if (raw.size() != kEd25519PublicKeySize) {
    return Status::InvalidArgument("an Ed25519 public key is 32 bytes, got " +
                                   std::to_string(raw.size()));
  }
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  if (key == nullptr) return Status::InvalidArgument("bad Ed25519 key: " + OpenSslError());
  Result<std::shared_ptr<const Impl>> impl = MakeImpl(PkeyPtr(key));
  if (!impl.ok()) return impl.status();
  return VerifyingKey(std::move(*impl));
}

Status VerifyingKey::Verify(std::string_view message, std::string_view signature) const {
  if (signature.size() != kEd25519SignatureSize) {
    return Status::Corruption("signature is " + std::to_string(signature.size()) +
                              " bytes, not 64");
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, impl_->pkey) != 1) {
    return CryptoFailed("EVP_DigestVerifyInit");
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(),
                            reinterpret_cast<const unsigned char*>(message.data()), message.size());
  ERR_clear_error();  // a bad signature leaves a queue entry we do not need
  if (rc != 1) return Status::Corruption("Ed25519 signature does not verify");
  return Status::OK();
}

std::string VerifyingKey::Raw() const { return impl_->raw; }

Result<std::string> VerifyingKey::ToPem() const {
  return PemText([this](BIO* bio) { return PEM_write_bio_PUBKEY(bio, impl_->pkey); });
}

// --- SigningKey -------------------------------------------------------------

Result<SigningKey> SigningKey::Load(Env* env, const std::string& pem_path) {
  Result<std::string> pem = ReadWholeFile(env, pem_path);
  if (!pem.ok()) return pem.status();
  Result<SigningKey> key = FromPem(*pem);
  if (!key.ok()) return key.status().WithContext(pem_path);
  return key;
}

Result<SigningKey> SigningKey::FromPem(std::string_view pem) {
  Result<BioPtr> bio = ReadBio(pem);
  if (!bio.ok()) return bio.status();
  Result<PkeyPtr> key =
      CheckEd25519(PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, nullptr), "private key");
  if (!key.ok()) return key.status();
  Result<std::shared_ptr<const Impl>> impl = MakeImpl(std::move(*key));
  if (!impl.ok()) return impl.status();
  return WithPublicHalf(std::move(*impl));
}

Result<SigningKey> SigningKey::Generate() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  EVP_PKEY* key = nullptr;
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &key) != 1) {
    return Status::IOError("Ed25519 key generation failed: " + OpenSslError());
  }
  Result<std::shared_ptr<const Impl>> impl = MakeImpl(PkeyPtr(key));
  if (!impl.ok()) return impl.status();
  return WithPublicHalf(std::move(*impl));
}

Result<SigningKey> SigningKey::WithPublicHalf(std::shared_ptr<const VerifyingKey::Impl> impl) {
  // An Ed25519 private EVP_PKEY verifies too; a separate public-only key
  // keeps the private half out of objects handed to verifiers.
  Result<VerifyingKey> pub = VerifyingKey::FromRaw(impl->raw);
  if (!pub.ok()) return pub.status();
  return SigningKey(std::move(impl), std::move(*pub));
}

Result<std::string> SigningKey::Sign(std::string_view message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::string sig(kEd25519SignatureSize, '\0');
  size_t len = sig.size();
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl_->pkey) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      len != kEd25519SignatureSize) {
    return CryptoFailed("Ed25519 signing");
  }
  return sig;
}

VerifyingKey SigningKey::Public() const { return public_; }

Result<std::string> SigningKey::ToPem() const {
  return PemText([this](BIO* bio) {
    return PEM_write_bio_PKCS8PrivateKey(bio, impl_->pkey, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

// --- key files --------------------------------------------------------------

Status GenerateKeyPair(const std::string& private_path) {
  const std::string public_path = private_path + ".pub";
  // Checked first so a half-written pair (private written, public refused)
  // cannot happen in the common case of re-running keygen.
  if (::access(public_path.c_str(), F_OK) == 0) {
    return Status::InvalidArgument(public_path + " already exists; refusing to overwrite a key");
  }
  Result<SigningKey> key = SigningKey::Generate();
  if (!key.ok()) return key.status();
  Result<std::string> private_pem = key->ToPem();
  if (!private_pem.ok()) return private_pem.status();
  Result<std::string> public_pem = key->Public().ToPem();
  if (!public_pem.ok()) return public_pem.status();
  QUIPU_RETURN_IF_ERROR(WriteNewFile(private_path, *private_pem, 0600));
  QUIPU_RETURN_IF_ERROR(WriteNewFile(public_path, *public_pem, 0644));
  return Env::Default()->SyncDir(DirName(private_path));
}

}  // namespace quipu
