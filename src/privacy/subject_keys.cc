// privacy/subject_keys.cc — the subject key file (layout in subject_keys.h).
#include "privacy/subject_keys.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

#include "crypto/aead.h"
#include "crypto/mac.h"
#include "crypto/x25519.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace quipu::privacy {

namespace {

constexpr size_t kSlotSize = 256;
constexpr size_t kHeaderSlots = 2;
constexpr uint64_t kDataStart = kHeaderSlots * kSlotSize;
constexpr size_t kCrcAt = kSlotSize - 4;
constexpr std::string_view kMagic = "QUIPUSK2";
constexpr size_t kDataKeySize = 32;
constexpr size_t kWrappedSize = kDataKeySize + crypto::kAeadTagSize;
// Offsets in a data slot (subject_keys.h).
constexpr size_t kAtKeyId = 12, kAtSubject = 28, kAtEphemeral = 60, kAtValueWrapped = 92,
                 kAtTokenNonce = 140, kAtTokenWrapped = 152;
// Unwrapped data keys kept: unwrapping a value key costs an X25519 agreement
// (tens of microseconds), so a busy store keeps many (two pooled 64-byte
// secrets each).
constexpr size_t kCacheLimit = 65536;

constexpr uint8_t kLive = 1;
constexpr uint8_t kForgotten = 2;
constexpr uint8_t kDamaged = 0;  // in memory only

void Seal(std::string* slot) {
  const uint32_t crc = crc32c::Mask(crc32c::Value(slot->data(), kCrcAt));
  EncodeFixed32(slot->data() + kCrcAt, crc);
}

bool Intact(std::string_view slot) {
  return slot.size() == kSlotSize &&
         crc32c::Unmask(DecodeFixed32(slot.data() + kCrcAt)) == crc32c::Value(slot.data(), kCrcAt);
}

std::string Header(uint64_t session) {
  std::string h(kSlotSize, '\0');
  h.replace(0, kMagic.size(), kMagic);
  EncodeFixed64(h.data() + 8, session);
  Seal(&h);
  return h;
}

std::string BigEndian(uint64_t v, int bytes) {
  std::string out(static_cast<size_t>(bytes), '\0');
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) out[static_cast<size_t>(i)] = static_cast<char>(v);
  return out;
}

std::string SubjectHash(uint32_t type, std::string_view id) {
  auto digest = crypto::HmacSha256("quipu subject v1", BigEndian(type, 4) + std::string(id));
  if (!digest.ok()) return {};  // cannot happen with a working libcrypto; matches nothing
  return std::string(reinterpret_cast<const char*>(digest->data()), digest->size());
}

std::string WrapAad(std::string_view key_id, std::string_view subject, uint32_t version,
                    uint32_t type) {
  std::string aad = "quipu data key v1";
  aad.append(key_id);
  aad.append(subject);
  aad += BigEndian(version, 4);
  aad += BigEndian(type, 4);
  return aad;
}

void Wipe(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

}  // namespace

SubjectKeys::SubjectKeys(Env* env, std::string dir, bool writable)
    : env_(env),
      dir_(std::move(dir)),
      path_(dir_ + "/" + std::string(kSubjectKeysFile)),
      writable_(writable) {}

Result<std::unique_ptr<SubjectKeys>> SubjectKeys::Open(Env* env, const std::string& dir,
                                                       bool writable) {
  std::unique_ptr<SubjectKeys> keys(new SubjectKeys(env, dir, writable));
  Status s = keys->Load();
  if (!s.ok()) return s;
  return keys;
}

// Encodes a data slot.
static std::string EncodeSlot(uint8_t state, uint32_t version, uint32_t type,
                              std::string_view key_id, std::string_view subject,
                              std::string_view ephemeral, std::string_view value_wrapped,
                              std::string_view token_nonce, std::string_view token_wrapped) {
  std::string s(kSlotSize, '\0');
  s[0] = static_cast<char>(state);
  EncodeFixed32(s.data() + 4, version);
  EncodeFixed32(s.data() + 8, type);
  // Fixed widths: a damaged slot being tombstoned may have lost its subject.
  // (A tombstone's empty fields have no bytes: memcpy must not see their
  // null pointer.)
  auto put = [&](size_t at, std::string_view bytes, size_t width) {
    if (!bytes.empty()) std::memcpy(s.data() + at, bytes.data(), std::min(bytes.size(), width));
  };
  put(kAtKeyId, key_id, kKeyIdSize);
  put(kAtSubject, subject, 32);
  put(kAtEphemeral, ephemeral, crypto::kX25519KeySize);
  put(kAtValueWrapped, value_wrapped, kWrappedSize);
  put(kAtTokenNonce, token_nonce, crypto::kAeadNonceSize);
  put(kAtTokenWrapped, token_wrapped, kWrappedSize);
  Seal(&s);
  return s;
}

Status SubjectKeys::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  auto exists = env_->FileExists(path_);
  if (!exists.ok()) return exists.status();
  std::string bytes;
  if (*exists) {
    auto file = env_->NewRandomAccessFile(path_);
    if (!file.ok()) return file.status();
    auto size = (*file)->Size();
    if (!size.ok()) return size.status();
    QUIPU_RETURN_IF_ERROR((*file)->Read(0, *size, &bytes));
  }
  if (bytes.size() < kDataStart) {
    // Missing, or torn while being created (before any key went in).
    if (!writable_) return Status::OK();
    if (*exists) QUIPU_RETURN_IF_ERROR(env_->RemoveFile(path_));
    auto file = env_->NewWritableFile(path_);
    if (!file.ok()) return file.status();
    file_ = std::move(*file);
    QUIPU_RETURN_IF_ERROR(file_->Append(Header(0) + Header(0)));
    QUIPU_RETURN_IF_ERROR(file_->Sync());
    QUIPU_RETURN_IF_ERROR(env_->SyncDir(dir_));
    return StartSessionLocked();
  }
  bool any_header = false;
  for (size_t h = 0; h < kHeaderSlots; ++h) {
    std::string_view header = std::string_view(bytes).substr(h * kSlotSize, kSlotSize);
    if (!Intact(header) || header.substr(0, kMagic.size()) != kMagic) continue;
    any_header = true;
    session_ = std::max(session_, DecodeFixed64(header.data() + 8));
  }
  if (!any_header) {
    return Status::Corruption(path_ + ": no valid header at offset 0 or 128");
  }
  uint64_t end = kDataStart;
  const uint64_t whole = kDataStart + (bytes.size() - kDataStart) / kSlotSize * kSlotSize;
  for (uint64_t at = kDataStart; at < whole; at += kSlotSize) {
    std::string_view raw = std::string_view(bytes).substr(at, kSlotSize);
    Slot slot;
    slot.key_id.assign(raw.substr(kAtKeyId, kKeyIdSize));
    if (!Intact(raw)) {
      if (at + kSlotSize == whole) break;  // a torn append: no record names it
      damaged_.emplace(slot.key_id, at);
      slot.state = kDamaged;
    } else {
      slot.state = static_cast<uint8_t>(raw[0]);
      if (slot.state != kLive && slot.state != kForgotten) {
        return Status::Corruption(path_ + ": slot at offset " + std::to_string(at) +
                                  " has unknown state " + std::to_string(slot.state));
      }
      slot.version = DecodeFixed32(raw.data() + 4);
      slot.type = DecodeFixed32(raw.data() + 8);
      slot.subject.assign(raw.substr(kAtSubject, 32));
      slot.ephemeral.assign(raw.substr(kAtEphemeral, crypto::kX25519KeySize));
      slot.value_wrapped.assign(raw.substr(kAtValueWrapped, kWrappedSize));
      slot.token_nonce.assign(raw.substr(kAtTokenNonce, crypto::kAeadNonceSize));
      slot.token_wrapped.assign(raw.substr(kAtTokenWrapped, kWrappedSize));
    }
    const size_t index = slots_.size();
    by_key_id_[slot.key_id] = index;
    if (slot.state == kLive) live_subject_[slot.subject] = index;
    slots_.push_back(std::move(slot));
    end = at + kSlotSize;
  }
  if (!writable_) return Status::OK();
  auto file = env_->ReopenWritableFile(path_);
  if (!file.ok()) return file.status();
  file_ = std::move(*file);
  if (end != bytes.size()) {
    QUIPU_RETURN_IF_ERROR(file_->Truncate(end));
    QUIPU_RETURN_IF_ERROR(file_->Sync());
  }
  return StartSessionLocked();
}

Status SubjectKeys::WriteHeaderLocked(uint64_t session) {
  QUIPU_RETURN_IF_ERROR(broken_);
  Status s = file_->WriteAt((session % kHeaderSlots) * kSlotSize, Header(session));
  if (s.ok()) s = file_->Sync();
  return Poison(s);
}

Status SubjectKeys::Poison(const Status& s) {
  if (!s.ok() && broken_.ok()) {
    broken_ = s.WithContext(path_ +
                            " (no later change to it is made until the store is "
                            "reopened)");
  }
  return s;
}

Status SubjectKeys::StartSessionLocked() {
  QUIPU_RETURN_IF_ERROR(WriteHeaderLocked(session_ + 1));
  session_ += 1;
  counter_ = 0;
  return Status::OK();
}

Result<std::string> SubjectKeys::NextNonceLocked() {
  if (!writable_) return Status::FailedPrecondition("subject keys are open for reading only");
  if (counter_ == UINT32_MAX) QUIPU_RETURN_IF_ERROR(StartSessionLocked());
  return BigEndian(session_, 8) + BigEndian(counter_++, 4);
}

Result<std::string> SubjectKeys::NextNonce() {
  std::lock_guard<std::mutex> lock(mu_);
  return NextNonceLocked();
}

namespace {

// The key that wraps a value key: HKDF of an X25519 agreement between an
// ephemeral key and the master version's value key pair.
Result<crypto::Secret> ValueKek(const crypto::Secret& shared, std::string_view ephemeral,
                                std::string_view master_public) {
  std::string salt(ephemeral);
  salt.append(master_public);
  return crypto::HkdfSha256(shared.view(), salt, "quipu value key wrap v1", kDataKeySize);
}

// Each value kek wraps one key only (a fresh ephemeral key each time), so
// its nonce may be fixed.
const std::string kZeroNonce(crypto::kAeadNonceSize, '\0');

}  // namespace

Result<SubjectKeys::Slot> SubjectKeys::WrapLocked(const MasterKeysImpl& master, const DataKey& key,
                                                  uint32_t type, std::string subject) {
  Slot slot;
  slot.state = kLive;
  slot.version = master.Newest();
  slot.type = type;
  slot.key_id = key.key_id;
  slot.subject = std::move(subject);
  auto pub = master.ValuePublic(slot.version);
  if (!pub.ok()) return pub.status();
  auto ephemeral = crypto::X25519Generate();
  if (!ephemeral.ok()) return ephemeral.status();
  auto shared = crypto::X25519Shared(ephemeral->private_key.view(), *pub);
  if (!shared.ok()) return shared.status();
  auto value_kek = ValueKek(*shared, ephemeral->public_key, *pub);
  if (!value_kek.ok()) return value_kek.status();
  slot.ephemeral = ephemeral->public_key;
  const std::string aad = WrapAad(slot.key_id, slot.subject, slot.version, slot.type);
  QUIPU_RETURN_IF_ERROR(crypto::AeadSeal(value_kek->view(), kZeroNonce, aad + "v",
                                         key.value_key->view(), &slot.value_wrapped));
  auto token_kek = master.Derived(slot.version, kWrapLabel);
  if (!token_kek.ok()) return token_kek.status();
  auto nonce = NextNonceLocked();
  if (!nonce.ok()) return nonce.status();
  slot.token_nonce = std::move(*nonce);
  QUIPU_RETURN_IF_ERROR(crypto::AeadSeal((*token_kek)->view(), slot.token_nonce, aad + "t",
                                         key.token_key->view(), &slot.token_wrapped));
  return slot;
}

Result<SubjectKeys::DataKey> SubjectKeys::UnwrapSlot(const MasterKeysImpl& master,
                                                     const Slot& slot) const {
  if (!master.Has(slot.version)) {
    return Status::FailedPrecondition("a data key is wrapped by master key version " +
                                      std::to_string(slot.version) + ", which the keys given lack");
  }
  auto damaged = [&](const Status& s) {
    return Status::Corruption(path_ + ": a data key does not unwrap with master key version " +
                              std::to_string(slot.version) + " (" + s.message() + ")");
  };
  const std::string aad = WrapAad(slot.key_id, slot.subject, slot.version, slot.type);
  DataKey out;
  out.key_id = slot.key_id;
  std::string plain;
  auto token_kek = master.Derived(slot.version, kWrapLabel);
  if (!token_kek.ok()) return token_kek.status();
  Status s = crypto::AeadOpen((*token_kek)->view(), slot.token_nonce, aad + "t", slot.token_wrapped,
                              &plain);
  if (!s.ok()) return damaged(s);
  out.token_key = std::make_shared<const crypto::Secret>(crypto::Secret::Copy(plain));
  Wipe(&plain);
  const crypto::Secret* priv = master.ValuePrivate(slot.version);
  if (priv == nullptr) return out;  // writer keys: the value key stays sealed
  auto pub = master.ValuePublic(slot.version);
  if (!pub.ok()) return pub.status();
  auto shared = crypto::X25519Shared(priv->view(), slot.ephemeral);
  if (!shared.ok()) return damaged(shared.status());
  auto value_kek = ValueKek(*shared, slot.ephemeral, *pub);
  if (!value_kek.ok()) return value_kek.status();
  s = crypto::AeadOpen(value_kek->view(), kZeroNonce, aad + "v", slot.value_wrapped, &plain);
  if (!s.ok()) return damaged(s);
  out.value_key = std::make_shared<const crypto::Secret>(crypto::Secret::Copy(plain));
  Wipe(&plain);
  return out;
}

void SubjectKeys::Remember(const DataKey& key) {
  if (auto it = cached_.find(key.key_id); it != cached_.end()) cache_.erase(it->second);
  cache_.push_front(key);
  cached_[key.key_id] = cache_.begin();
  if (cache_.size() > kCacheLimit) {
    cached_.erase(cache_.back().key_id);
    cache_.pop_back();
  }
}

Result<SubjectKeys::DataKey> SubjectKeys::CreateLocked(const MasterKeysImpl& master, uint32_t type,
                                                       std::string subject) {
  if (!writable_) return Status::FailedPrecondition("subject keys are open for reading only");
  QUIPU_RETURN_IF_ERROR(broken_);
  DataKey key;
  key.key_id.assign(kKeyIdSize, '\0');
  QUIPU_RETURN_IF_ERROR(crypto::RandomBytes(key.key_id.data(), key.key_id.size()));
  auto value_key = crypto::Secret::Random(kDataKeySize);
  if (!value_key.ok()) return value_key.status();
  auto token_key = crypto::Secret::Random(kDataKeySize);
  if (!token_key.ok()) return token_key.status();
  key.value_key = std::make_shared<const crypto::Secret>(std::move(*value_key));
  key.token_key = std::make_shared<const crypto::Secret>(std::move(*token_key));
  auto slot = WrapLocked(master, key, type, subject);
  if (!slot.ok()) return slot.status();
  // A failed append or sync leaves bytes whose place is unknown: later
  // slots would be misplaced, so the file takes no further change.
  Status written = file_->Append(EncodeSlot(kLive, slot->version, type, slot->key_id, slot->subject,
                                            slot->ephemeral, slot->value_wrapped, slot->token_nonce,
                                            slot->token_wrapped));
  if (written.ok()) written = file_->Sync();
  QUIPU_RETURN_IF_ERROR(Poison(written));
  const size_t index = slots_.size();
  by_key_id_[slot->key_id] = index;
  live_subject_[slot->subject] = index;
  slots_.push_back(std::move(*slot));
  Remember(key);
  return key;
}

Result<SubjectKeys::DataKey> SubjectKeys::KeyFor(const MasterKeysImpl& master, uint32_t type,
                                                 std::string_view id) {
  std::string subject = SubjectHash(type, id);
  std::lock_guard<std::mutex> lock(mu_);
  if (auto live = live_subject_.find(subject); live != live_subject_.end()) {
    const Slot& slot = slots_[live->second];
    if (auto it = cached_.find(slot.key_id); it != cached_.end() && it->second->value_key) {
      return *it->second;
    }
    if (master.CanUnwrap(slot.version)) {
      auto key = UnwrapSlot(master, slot);
      if (!key.ok()) return key.status();
      Remember(*key);
      return *key;
    }
  }
  return CreateLocked(master, type, std::move(subject));
}

SubjectKeys::State SubjectKeys::StateOf(std::string_view key_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_key_id_.find(std::string(key_id));
  if (it == by_key_id_.end()) return State::kUnknown;
  return slots_[it->second].state == kLive ? State::kLive : State::kForgotten;
}

Result<SubjectKeys::DataKey> SubjectKeys::Unwrap(const MasterKeysImpl& master,
                                                 std::string_view key_id, State* state) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string id(key_id);
  auto it = by_key_id_.find(id);
  if (it == by_key_id_.end()) {
    *state = State::kUnknown;
    return DataKey{};
  }
  const Slot& slot = slots_[it->second];
  if (slot.state != kLive) {
    *state = State::kForgotten;
    return DataKey{};
  }
  *state = State::kLive;
  if (auto c = cached_.find(id); c != cached_.end()) return *c->second;
  auto key = UnwrapSlot(master, slot);
  if (!key.ok()) return key.status();
  Remember(*key);
  return *key;
}

std::vector<std::string> SubjectKeys::LiveKeyIds(uint32_t type, std::string_view id) const {
  const std::string subject = SubjectHash(type, id);
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const Slot& slot : slots_) {
    if (slot.state == kLive && slot.type == type && slot.subject == subject) {
      out.push_back(slot.key_id);
    }
  }
  return out;
}

Status SubjectKeys::ForgetKeyIds(const std::vector<std::string>& key_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!writable_) return Status::FailedPrecondition("subject keys are open for reading only");
  QUIPU_RETURN_IF_ERROR(broken_);
  bool wrote = false;
  for (const std::string& key_id : key_ids) {
    auto it = by_key_id_.find(key_id);
    if (it == by_key_id_.end()) continue;
    Slot& slot = slots_[it->second];
    if (slot.state == kForgotten) continue;
    const uint64_t at = kDataStart + it->second * kSlotSize;
    QUIPU_RETURN_IF_ERROR(Poison(file_->WriteAt(
        at, EncodeSlot(kForgotten, 0, slot.type, slot.key_id, slot.subject, {}, {}, {}, {}))));
    wrote = true;
    if (auto live = live_subject_.find(slot.subject);
        live != live_subject_.end() && live->second == it->second) {
      live_subject_.erase(live);
    }
    slot.state = kForgotten;
    slot.version = 0;
    Wipe(&slot.ephemeral);
    Wipe(&slot.value_wrapped);
    Wipe(&slot.token_nonce);
    Wipe(&slot.token_wrapped);
    damaged_.erase(key_id);
    if (auto c = cached_.find(key_id); c != cached_.end()) {
      cache_.erase(c->second);
      cached_.erase(c);
    }
  }
  // Memory already says forgotten: a failed sync must not let a retry
  // report success for a tombstone that may not be durable.
  return wrote ? Poison(file_->Sync()) : Status::OK();
}

std::vector<std::string> SubjectKeys::Damaged() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [key_id, at] : damaged_) out.push_back(key_id);
  return out;
}

uint64_t SubjectKeys::DamagedOffset(std::string_view key_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = damaged_.find(std::string(key_id));
  return it == damaged_.end() ? 0 : it->second;
}

Result<uint64_t> SubjectKeys::Rewrap(const MasterKeysImpl& master) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!writable_) return Status::FailedPrecondition("subject keys are open for reading only");
  QUIPU_RETURN_IF_ERROR(broken_);
  if (!damaged_.empty()) {
    return Status::FailedPrecondition(path_ + " has a damaged slot; open the store to repair it");
  }
  if (!master.CanRead()) {
    return Status::FailedPrecondition(
        "re-wrapping data keys needs the master keys, not writer keys");
  }
  std::vector<Slot> next = slots_;
  uint64_t rewrapped = 0;
  for (Slot& slot : next) {
    if (slot.state != kLive || slot.version == master.Newest()) continue;
    auto key = UnwrapSlot(master, slot);
    if (!key.ok()) return key.status();
    auto wrapped = WrapLocked(master, *key, slot.type, slot.subject);
    if (!wrapped.ok()) return wrapped.status();
    slot = std::move(*wrapped);
    ++rewrapped;
  }
  if (rewrapped == 0) return rewrapped;
  std::string image = Header(session_) + Header(session_);
  for (const Slot& slot : next) {
    image += EncodeSlot(slot.state, slot.version, slot.type, slot.key_id, slot.subject,
                        slot.ephemeral, slot.value_wrapped, slot.token_nonce, slot.token_wrapped);
  }
  const std::string tmp = path_ + ".new";
  auto exists = env_->FileExists(tmp);
  if (!exists.ok()) return exists.status();
  if (*exists) QUIPU_RETURN_IF_ERROR(env_->RemoveFile(tmp));
  auto file = env_->NewWritableFile(tmp);
  if (!file.ok()) return file.status();
  QUIPU_RETURN_IF_ERROR((*file)->Append(image));
  QUIPU_RETURN_IF_ERROR((*file)->Sync());
  QUIPU_RETURN_IF_ERROR((*file)->Close());
  // From the rename on, which file holds the keys is not known until the
  // directory is synced: any failure ends changes through this handle.
  QUIPU_RETURN_IF_ERROR(Poison(env_->RenameFile(tmp, path_)));
  QUIPU_RETURN_IF_ERROR(Poison(env_->SyncDir(dir_)));
  auto reopened = env_->ReopenWritableFile(path_);
  if (!reopened.ok()) return Poison(reopened.status());
  file_ = std::move(*reopened);
  slots_ = std::move(next);
  return rewrapped;
}

Status SubjectKeys::CheckMaster(const MasterKeysImpl& master) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<uint32_t> checked;
  for (const Slot& slot : slots_) {
    if (slot.state != kLive || !master.Has(slot.version) || !checked.insert(slot.version).second) {
      continue;
    }
    auto key = UnwrapSlot(master, slot);
    if (!key.ok()) {
      return Status::FailedPrecondition("master key version " + std::to_string(slot.version) +
                                        " given does not open the data "
                                        "keys of " +
                                        path_ + ": is it this store's key file?");
    }
  }
  return Status::OK();
}

KeyUsage SubjectKeys::Usage() const {
  std::lock_guard<std::mutex> lock(mu_);
  KeyUsage usage;
  usage.session = session_;
  for (const Slot& slot : slots_) {
    if (slot.state == kLive) {
      usage.live_by_version[slot.version] += 1;
    } else {
      usage.forgotten += 1;
    }
  }
  return usage;
}

}  // namespace quipu::privacy
