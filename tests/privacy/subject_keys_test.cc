// privacy/subject_keys: the subject key file `subject-keys` (one key per
// subject, nonces that never repeat across opens and power cuts, forget in
// place, damage, tamper, rewrap, a failed write poisoning the handle). The
// power-cut test prints its seed; QUIPU_SEED=<n> reruns it.
#include "privacy_test_util.h"

namespace quipu::testing {
namespace {

class SubjectKeysTest : public ::testing::Test {
 protected:
  std::unique_ptr<SubjectKeys> Open(bool writable = true, Env* env = Env::Default()) {
    auto keys = SubjectKeys::Open(env, dir_.path(), writable);
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    return keys.ok() ? std::move(*keys) : nullptr;
  }
  std::string Path() const { return dir_.path() + "/subject-keys"; }
  std::string File() const { return ReadFile(Path()); }
  const privacy::MasterKeysImpl& M() const { return Impl(*master_); }

  // Both keys' bytes of the subject's data key ("<error>" on failure), its
  // id in *key_id.
  std::string KeyFor(SubjectKeys* keys, std::string_view id, std::string* key_id,
                     uint32_t type = 1) {
    if (keys == nullptr) return "<not open>";
    auto key = keys->KeyFor(M(), type, id);
    EXPECT_TRUE(key.ok()) << key.status().ToString();
    if (!key.ok()) return "<error>";
    *key_id = key->key_id;
    return std::string(key->value_key->view()) + std::string(key->token_key->view());
  }
  // Keys for subjects s0..s<n-1> into ids_ and bytes_.
  void Make(SubjectKeys* keys, int n) {
    ids_.resize(n);
    bytes_.resize(n);
    for (int i = 0; keys != nullptr && i < n; ++i) {
      bytes_[i] = KeyFor(keys, "s" + std::to_string(i), &ids_[i]);
    }
  }
  // The key bytes, or "<forgotten>", "<unknown>", "<Corruption>"...
  std::string Unwrap(SubjectKeys* keys, std::string_view key_id, const MasterKeys* m = nullptr) {
    State state = State::kLive;
    auto key = keys->Unwrap(Impl(m ? *m : *master_), key_id, &state);
    if (!key.ok()) return "<" + std::string(CodeName(key.status().code())) + ">";
    if (key->token_key != nullptr && state == State::kLive) {
      return (key->value_key ? std::string(key->value_key->view()) : "<locked>") +
             std::string(key->token_key->view());
    }
    if (key->token_key == nullptr && state == State::kForgotten) return "<forgotten>";
    if (key->token_key == nullptr && state == State::kUnknown) return "<unknown>";
    return "<inconsistent>";
  }
  // Offset of the data slot holding `key_id`, npos if none.
  static size_t SlotOf(const std::string& file, std::string_view key_id) {
    for (size_t at = kDataStart; at + kSlot <= file.size(); at += kSlot) {
      if (file.compare(at + 12, 16, key_id) == 0) return at;
    }
    return std::string::npos;
  }
  // Changes the slot of `key_id` through `edit`, then fixes its CRC so
  // that the change reads as tampering rather than damage.
  template <typename Edit>
  void EditSealed(std::string_view key_id, Edit edit) {
    std::string file = File();
    const size_t at = SlotOf(file, key_id);
    ASSERT_NE(at, std::string::npos);
    edit(file.data() + at);
    EncodeFixed32(file.data() + at + kCrcAt, crc32c::Mask(crc32c::Value(file.data() + at, kCrcAt)));
    WriteFile(Path(), file);
  }

  TestDir dir_;
  std::shared_ptr<const MasterKeys> master_ = Keys(Line(1, kHexA));
  std::vector<std::string> ids_, bytes_;
};

TEST_F(SubjectKeysTest, OneKeyPerSubjectAcrossReopens) {
  auto keys = Open();
  ASSERT_TRUE(keys);
  EXPECT_EQ(File().size(), kDataStart);
  std::string alice, again, bob, alice2;
  const std::string ka = KeyFor(keys.get(), "alice", &alice);
  EXPECT_EQ(ka.size(), 64u);  // value key and token key
  EXPECT_EQ(alice.size(), privacy::kKeyIdSize);
  EXPECT_EQ(KeyFor(keys.get(), "alice", &again), ka);
  EXPECT_EQ(again, alice);
  EXPECT_EQ(File().size(), kDataStart + kSlot);
  const std::string kb = KeyFor(keys.get(), "bob", &bob);
  const std::string ka2 = KeyFor(keys.get(), "alice", &alice2, /*type=*/2);
  EXPECT_EQ((std::set<std::string>{ka, kb, ka2}).size(), 3u);
  EXPECT_EQ((std::set<std::string>{alice, bob, alice2}).size(), 3u);
  EXPECT_EQ(keys->LiveKeyIds(1, "alice"), std::vector<std::string>{alice});
  EXPECT_EQ(keys->LiveKeyIds(2, "alice"), std::vector<std::string>{alice2});
  EXPECT_TRUE(keys->LiveKeyIds(1, "carol").empty());
  EXPECT_EQ(keys->StateOf(alice), State::kLive);
  EXPECT_EQ(Unwrap(keys.get(), std::string(16, 'x')), "<unknown>");
  EXPECT_EQ(keys->Usage().live_by_version, (std::map<uint32_t, uint64_t>{{1, 3}}));
  EXPECT_EQ(keys->Usage().forgotten, 0u);

  keys = Open();  // unwraps from the file, not from a cache
  ASSERT_TRUE(keys);
  EXPECT_EQ(Unwrap(keys.get(), alice), ka);
  EXPECT_EQ(Unwrap(keys.get(), bob), kb);
  EXPECT_EQ(KeyFor(keys.get(), "alice", &again), ka);
  EXPECT_EQ(again, alice);
  EXPECT_EQ(File().size(), kDataStart + 3 * kSlot);
}

TEST_F(SubjectKeysTest, ReaderNeverWrites) {
  auto reader = Open(/*writable=*/false);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->NextNonce().status().code(), Code::kFailedPrecondition);
  EXPECT_FALSE(std::filesystem::exists(Path()));
  std::string alice, id;
  const std::string ka = KeyFor(Open().get(), "alice", &alice);
  const std::string before = File();
  reader = Open(/*writable=*/false);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->NextNonce().status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(KeyFor(reader.get(), "alice", &id), ka);
  EXPECT_EQ(reader->KeyFor(M(), 1, "bob").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(reader->ForgetKeyIds({alice}).code(), Code::kFailedPrecondition);
  EXPECT_EQ(reader->Rewrap(M()).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(File(), before);
}

TEST_F(SubjectKeysTest, NoncesAreDistinctAndSessionsGrowAcrossOpens) {
  std::set<std::string> nonces;
  size_t made = 0;
  uint64_t last_session = 0;
  for (int open = 0; open < 5; ++open) {
    auto keys = Open();
    ASSERT_TRUE(keys);
    std::set<uint64_t> sessions;
    for (int i = 0; i < 1000; ++i) {
      std::string id;
      if (i % 250 == 0) KeyFor(keys.get(), "s" + std::to_string(open * 1000 + i), &id);
      auto nonce = keys->NextNonce();
      ASSERT_TRUE(nonce.ok()) << nonce.status().ToString();
      ASSERT_EQ(nonce->size(), 12u);
      sessions.insert(SessionOf(*nonce));
      nonces.insert(*nonce);
      ++made;
    }
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_GT(*sessions.begin(), last_session) << "open " << open;
    last_session = *sessions.begin();
    EXPECT_EQ(keys->Usage().session, last_session);
  }
  // The wrapping nonces, consumed inside KeyFor, are in the slots.
  const std::string file = File();
  for (size_t at = kDataStart; at + kSlot <= file.size(); at += kSlot, ++made) {
    nonces.insert(file.substr(at + kTokenNonceAt, 12));
  }
  EXPECT_EQ(made, 5u * 1000 + 5 * 4);
  EXPECT_EQ(nonces.size(), made);
}

uint64_t Seed() {
  if (const char* s = std::getenv("QUIPU_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

// Power cuts at every step of opening and of adding a key, with the disk
// keeping any mix of unsynced writes: no nonce handed out or used to wrap a
// key is ever handed out or used again.
TEST_F(SubjectKeysTest, NoNonceRepeatsAcrossPowerCuts) {
  const uint64_t seed = Seed();
  std::cout << "subject keys power-cut seed " << seed << " (rerun with QUIPU_SEED=" << seed
            << ")\n";
  std::mt19937_64 rng(seed);
  FaultEnv fault(Env::Default());
  std::map<std::string, std::string> used;  // nonce -> who used it
  auto use = [&](const std::string& nonce, const std::string& who) {
    auto [it, fresh] = used.emplace(nonce, who);
    EXPECT_TRUE(fresh || it->second == who)
        << "nonce of session " << SessionOf(nonce) << " used by " << who << " and " << it->second;
  };
  auto slot_nonces = [&] {  // what reached the disk, synced or not
    const std::string file = File();
    for (size_t at = kDataStart; at + kSlot <= file.size(); at += kSlot) {
      const bool intact = crc32c::Unmask(DecodeFixed32(file.data() + at + kCrcAt)) ==
                          crc32c::Value(file.data() + at, kCrcAt);
      if (intact && file[at] == 1) {
        use(file.substr(at + kTokenNonceAt, 12), file.substr(at + 12, 16));
      }
    }
  };
  int opened = 0;
  for (int round = 0; round < 80; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    StepEnv step(&fault, /*file_syncs=*/true);
    step.CrashBeforeStep(static_cast<int>(rng() % 6));
    if (auto keys = SubjectKeys::Open(&step, dir_.path(), true); keys.ok()) {
      ++opened;
      for (int i = 0; i < 40; ++i) {
        auto nonce = (*keys)->NextNonce();
        ASSERT_TRUE(nonce.ok());
        use(*nonce, "NextNonce in round " + std::to_string(round));
        if (i % 10 == 9) (void)(*keys)->KeyFor(M(), 1, "r" + std::to_string(round * 10 + i));
      }
    }
    slot_nonces();
    fault.Crash();
    PowerLossOptions cut;
    cut.seed = rng();
    cut.tear_last_write = rng() % 2 == 0;
    cut.keep_random_pages = rng() % 3 == 0;
    ASSERT_TRUE(fault.PowerLoss(cut).ok());
    slot_nonces();
  }
  EXPECT_GT(opened, 10);
  auto keys = Open(true, &fault);
  ASSERT_TRUE(keys);
  for (int i = 0; i < 10; ++i) use(*keys->NextNonce(), "last open");
}

// A power cut tearing the header the next open writes leaves the other
// header, whose session is the last one used: the open after it moves on.
TEST_F(SubjectKeysTest, TornHeaderWriteNeverRewindsTheSession) {
  std::set<std::string> seen;
  uint64_t session = 0;
  for (int round = 0; round < 5; ++round) {
    {
      auto keys = Open();
      ASSERT_TRUE(keys);
      EXPECT_GT(keys->Usage().session, session);
      session = keys->Usage().session;
      for (int i = 0; i < 10; ++i) EXPECT_TRUE(seen.insert(*keys->NextNonce()).second);
    }
    std::string file = File();
    const size_t at = ((session + 1) % 2) * kSlot;
    if (round % 2 == 0) {  // magic and session written, not the CRC
      file.replace(at, 8, "QUIPUSK1");
      EncodeFixed64(file.data() + at + 8, session + 1);
    } else {
      file.replace(at, kSlot, std::string(kSlot, '\xff'));
    }
    WriteFile(Path(), file);
  }
}

TEST_F(SubjectKeysTest, ForgetDestroysTheKeyInPlace) {
  auto keys = Open();
  ASSERT_TRUE(keys);
  std::string alice, bob, id;
  KeyFor(keys.get(), "alice", &alice);
  const std::string kb = KeyFor(keys.get(), "bob", &bob);
  const std::string before = File();
  const size_t at = SlotOf(before, alice);
  ASSERT_NE(at, std::string::npos);

  ASSERT_TRUE(keys->ForgetKeyIds({alice}).ok());
  EXPECT_EQ(keys->StateOf(alice), State::kForgotten);
  EXPECT_EQ(Unwrap(keys.get(), alice), "<forgotten>");
  EXPECT_TRUE(keys->LiveKeyIds(1, "alice").empty());
  const std::string after = File();
  EXPECT_EQ(after.size(), before.size());
  EXPECT_EQ(after.find(before.substr(at + kValueWrappedAt, 48)), std::string::npos);
  EXPECT_EQ(after.find(before.substr(at + kTokenWrappedAt, 48)), std::string::npos);
  EXPECT_EQ(after.find(before.substr(at + kTokenNonceAt, 12)), std::string::npos);
  EXPECT_EQ(after[at], 2);
  EXPECT_EQ(keys->Usage().forgotten, 1u);
  ASSERT_TRUE(keys->ForgetKeyIds({alice, std::string(16, 'x')}).ok());
  EXPECT_EQ(File(), after);

  keys = Open();
  ASSERT_TRUE(keys);
  EXPECT_EQ(Unwrap(keys.get(), alice), "<forgotten>");
  EXPECT_EQ(Unwrap(keys.get(), bob), kb);
  const std::string ka2 = KeyFor(keys.get(), "alice", &id);
  EXPECT_NE(id, alice);
  EXPECT_EQ(keys->LiveKeyIds(1, "alice"), std::vector<std::string>{id});
  EXPECT_EQ(Unwrap(keys.get(), id), ka2);
}

// What KeyFor and ForgetKeyIds return is durable: a power cut right after
// them loses neither the new key nor the forget.
TEST_F(SubjectKeysTest, KeysAndForgetsSurviveAPowerCut) {
  FaultEnv fault(Env::Default());
  auto keys = Open(true, &fault);
  ASSERT_TRUE(keys);
  auto cut = [&] {
    fault.Crash();
    keys.reset();
    ASSERT_TRUE(fault.PowerLoss().ok());
    keys = Open(true, &fault);
  };
  Make(keys.get(), 2);
  ASSERT_TRUE(keys->ForgetKeyIds({ids_[0]}).ok());
  cut();
  ASSERT_TRUE(keys);
  EXPECT_EQ(Unwrap(keys.get(), ids_[0]), "<forgotten>");
  EXPECT_EQ(Unwrap(keys.get(), ids_[1]), bytes_[1]);
  std::string id;
  const std::string last = KeyFor(keys.get(), "last", &id);
  cut();
  ASSERT_TRUE(keys);
  EXPECT_EQ(Unwrap(keys.get(), id), last);
}

TEST_F(SubjectKeysTest, TornLastSlotIsDroppedByTheWriter) {
  Make(Open().get(), 3);
  const std::string full = File();
  for (const bool truncate : {true, false}) {
    SCOPED_TRACE(truncate ? "truncated mid-slot" : "bad CRC in the last slot");
    std::string torn = full;
    if (truncate) {
      torn.resize(kDataStart + 2 * kSlot + 50);
    } else {
      torn[kDataStart + 2 * kSlot + kCrcAt] ^= 0x01;
    }
    WriteFile(Path(), torn);
    {
      auto reader = Open(/*writable=*/false);
      ASSERT_TRUE(reader);
      EXPECT_EQ(Unwrap(reader.get(), ids_[2]), "<unknown>");
      EXPECT_TRUE(reader->Damaged().empty());
    }
    EXPECT_EQ(File(), torn);
    auto keys = Open();
    ASSERT_TRUE(keys);
    EXPECT_EQ(std::filesystem::file_size(Path()), kDataStart + 2 * kSlot);
    EXPECT_TRUE(keys->Damaged().empty());
    EXPECT_EQ(Unwrap(keys.get(), ids_[0]), bytes_[0]);
    EXPECT_EQ(Unwrap(keys.get(), ids_[1]), bytes_[1]);
    EXPECT_EQ(Unwrap(keys.get(), ids_[2]), "<unknown>");
    std::string id;
    KeyFor(keys.get(), "s2", &id);
    EXPECT_NE(id, ids_[2]);
    EXPECT_EQ(std::filesystem::file_size(Path()), kDataStart + 3 * kSlot);
  }
}

TEST_F(SubjectKeysTest, DamagedMiddleSlotIsReportedAndForgetRepairsIt) {
  Make(Open().get(), 3);
  std::string file = File();
  const size_t at = SlotOf(file, ids_[1]);
  ASSERT_EQ(at, kDataStart + kSlot);
  file[at + 80] ^= 0x10;  // inside the wrapped key; the CRC now disagrees
  WriteFile(Path(), file);
  auto keys = Open(/*writable=*/false);
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->Damaged(), std::vector<std::string>{ids_[1]});
  keys = Open();
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->Damaged(), std::vector<std::string>{ids_[1]});
  EXPECT_EQ(keys->DamagedOffset(ids_[1]), at);
  EXPECT_EQ(keys->DamagedOffset(ids_[0]), 0u);
  EXPECT_EQ(std::filesystem::file_size(Path()), kDataStart + 3 * kSlot);
  EXPECT_EQ(Unwrap(keys.get(), ids_[0]), bytes_[0]);
  EXPECT_EQ(Unwrap(keys.get(), ids_[2]), bytes_[2]);
  EXPECT_EQ(keys->Rewrap(M()).status().code(), Code::kFailedPrecondition);

  ASSERT_TRUE(keys->ForgetKeyIds({ids_[1]}).ok());
  EXPECT_TRUE(keys->Damaged().empty());
  keys = Open();
  ASSERT_TRUE(keys);
  EXPECT_TRUE(keys->Damaged().empty());
  EXPECT_EQ(keys->StateOf(ids_[1]), State::kForgotten);
  EXPECT_EQ(File().find(file.substr(at + kValueWrappedAt, 48)), std::string::npos);
  EXPECT_EQ(Unwrap(keys.get(), ids_[0]), bytes_[0]);
  EXPECT_EQ(Unwrap(keys.get(), ids_[2]), bytes_[2]);
}

TEST_F(SubjectKeysTest, BothHeadersDamagedIsCorruptionNamingTheFile) {
  Make(Open().get(), 1);
  std::string file = File();
  file[20] ^= 0x01;
  file[kSlot + 20] ^= 0x01;
  WriteFile(Path(), file);
  for (const bool writable : {false, true}) {
    auto keys = SubjectKeys::Open(Env::Default(), dir_.path(), writable);
    ASSERT_FALSE(keys.ok());
    EXPECT_TRUE(keys.status().IsCorruption()) << keys.status().ToString();
    EXPECT_NE(keys.status().message().find(Path()), std::string::npos);
  }
  EXPECT_EQ(File(), file);
}

TEST_F(SubjectKeysTest, TamperedSlotDoesNotUnwrap) {
  Make(Open().get(), 4);
  EditSealed(ids_[0], [](char* slot) { slot[kValueWrappedAt + 7] ^= 0x01; });  // wrapped key
  EditSealed(ids_[1], [](char* slot) { slot[kTokenNonceAt + 11] ^= 0x80; });   // token nonce
  EditSealed(ids_[3], [](char* slot) { slot[60 + 3] ^= 0x10; });        // ephemeral public key
  EditSealed(ids_[2], [](char* slot) { EncodeFixed32(slot + 4, 2); });  // master version
  auto keys = Open();
  ASSERT_TRUE(keys);
  EXPECT_TRUE(keys->Damaged().empty());
  EXPECT_EQ(Unwrap(keys.get(), ids_[0]), "<Corruption>");
  EXPECT_EQ(Unwrap(keys.get(), ids_[1]), "<Corruption>");
  State state;
  EXPECT_NE(keys->Unwrap(M(), ids_[0], &state).status().message().find(Path()), std::string::npos);
  EXPECT_EQ(Unwrap(keys.get(), ids_[3]), "<Corruption>");
  EXPECT_TRUE(keys->KeyFor(M(), 1, "s0").status().IsCorruption());
  EXPECT_EQ(Unwrap(keys.get(), ids_[2]), "<Failed precondition>");
  auto same_key = Keys(Line(1, kHexA) + Line(2, kHexA));  // the version is authenticated
  EXPECT_EQ(Unwrap(keys.get(), ids_[2], same_key.get()), "<Corruption>");

  keys = Open();  // nothing cached
  ASSERT_TRUE(keys);
  auto only_v2 = Keys(Line(2, kHexA));
  EXPECT_EQ(Unwrap(keys.get(), ids_[3], only_v2.get()), "<Failed precondition>");
  auto wrong_key = Keys(Line(1, kHexB));
  EXPECT_EQ(Unwrap(keys.get(), ids_[3], wrong_key.get()), "<Corruption>");
}

TEST_F(SubjectKeysTest, RewrapMovesEveryLiveKeyToTheNewestVersion) {
  auto keys = Open();
  ASSERT_TRUE(keys);
  Make(keys.get(), 5);
  ASSERT_TRUE(keys->ForgetKeyIds({ids_[4]}).ok());
  const std::string before = File();
  auto both = Keys(Line(1, kHexA) + Line(2, kHexB));
  auto only_v2 = Keys(Line(2, kHexB));
  auto rewrapped = keys->Rewrap(Impl(*both));
  ASSERT_TRUE(rewrapped.ok()) << rewrapped.status().ToString();
  EXPECT_EQ(*rewrapped, 4u);
  const KeyUsage usage = keys->Usage();
  EXPECT_EQ(usage.live_by_version, (std::map<uint32_t, uint64_t>{{2, 4}}));
  EXPECT_EQ(usage.forgotten, 1u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Unwrap(keys.get(), ids_[i], both.get()), bytes_[i]);
  auto again = keys->Rewrap(Impl(*both));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);
  const std::string after = File();
  EXPECT_EQ(after.size(), before.size());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(after.find(before.substr(SlotOf(before, ids_[i]) + kValueWrappedAt, 48)),
              std::string::npos);
    EXPECT_EQ(DecodeFixed32(after.data() + SlotOf(after, ids_[i]) + 4), 2u);
  }

  keys = Open();
  ASSERT_TRUE(keys);
  EXPECT_GT(keys->Usage().session, usage.session);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Unwrap(keys.get(), ids_[i], only_v2.get()), bytes_[i]);
  EXPECT_EQ(keys->StateOf(ids_[4]), State::kForgotten);
  auto key = keys->KeyFor(Impl(*only_v2), 1, "s1");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->key_id, ids_[1]);
  EXPECT_EQ(std::string(key->value_key->view()) + std::string(key->token_key->view()), bytes_[1]);
  EXPECT_FALSE(std::filesystem::exists(Path() + ".new"));
}

// A KeyFor that fails once its append has begun (a failed sync, a full
// disk) leaves its slot, or part of it, in the file; later KeyFors append
// after it. The slots in memory must still match the file, or a forget
// tombstones the wrong bytes (the key it meant stays live) and keys handed
// out later read as torn or damaged at the next open.
// A failed append or sync of a new key leaves bytes of unknown extent: the
// handle takes no further change (as a failed fsync poisons the log), and a
// reopen drops a torn tail, so later slots stay where offsets say.
TEST_F(SubjectKeysTest, AFailedWriteStopsChangesUntilReopened) {
  for (const bool full_disk : {false, true}) {
    SCOPED_TRACE(full_disk ? "short append: disk full" : "failed sync");
    std::filesystem::remove(Path());
    FaultEnv fault(Env::Default());
    auto keys = Open(true, &fault);
    ASSERT_TRUE(keys);
    std::string alice, bob, carol, id;
    const std::string ka = KeyFor(keys.get(), "alice", &alice);
    if (full_disk) {
      fault.SetSpaceLimit(File().size() + 50);
    } else {
      fault.FailSyncs(1);
    }
    EXPECT_FALSE(keys->KeyFor(M(), 1, "bob").ok());
    fault.ClearSpaceLimit();
    EXPECT_FALSE(keys->KeyFor(M(), 1, "bob").ok()) << "a poisoned handle refuses";
    EXPECT_FALSE(keys->ForgetKeyIds({alice}).ok()) << "a poisoned handle refuses";
    keys = Open(true, &fault);
    ASSERT_TRUE(keys);
    KeyFor(keys.get(), "bob", &bob);
    const std::string kc = KeyFor(keys.get(), "carol", &carol);
    const std::string wrapped = File().substr(File().find(bob) - 12 + kValueWrappedAt, 48);
    ASSERT_TRUE(keys->ForgetKeyIds({bob}).ok());
    EXPECT_EQ(File().find(wrapped), std::string::npos) << "the forgotten key is still there";
    keys = Open(true, &fault);
    ASSERT_TRUE(keys);
    EXPECT_TRUE(keys->Damaged().empty());
    EXPECT_EQ(Unwrap(keys.get(), bob), "<forgotten>");
    EXPECT_EQ(Unwrap(keys.get(), alice), ka);
    EXPECT_EQ(Unwrap(keys.get(), carol), kc);
  }
}

}  // namespace
}  // namespace quipu::testing
