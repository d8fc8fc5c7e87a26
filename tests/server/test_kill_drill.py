#!/usr/bin/python3
"""The durable-ack kill drill: clients post events with Idempotency-Keys
while the server is SIGKILLed at seeded random moments and restarted; each
client retries an unanswered event with the same key and body until it is
answered. At the end every event answered 200 is in the store exactly once,
under the log_id it was answered with, and no event is there twice.

QUIPU_DRILL_SEED=N repeats the kill schedule of a run (the seed is printed);
QUIPU_DRILL_KILLS sets the number of kills (default 5)."""

import collections
import os
import random
import threading
import time

import requests

import serverlib
from serverlib import make_event

CLIENTS = 8


class KillDrillTest(serverlib.ServerTest):
    TEST_SECONDS = 240

    def test_acknowledged_events_survive_sigkill_exactly_once(self):
        seed = int(os.environ.get("QUIPU_DRILL_SEED") or random.SystemRandom().getrandbits(32))
        kills = int(os.environ.get("QUIPU_DRILL_KILLS") or 5)
        print(f"kill drill: QUIPU_DRILL_SEED={seed} QUIPU_DRILL_KILLS={kills}", flush=True)
        rng = random.Random(seed)

        acked = {}  # key -> (log_id, duplicate)
        unresolved = []
        protocol_errors = []
        no_new_events = threading.Event()
        give_up_at = time.monotonic() + self.TEST_SECONDS - 60

        def client(c):
            with requests.Session() as session:
                send(c, session)

        def send(c, session):
            i = 0
            while not no_new_events.is_set():
                key = f"c{c}-{i}"
                event = make_event(key, actor=f"client-{c}")
                i += 1
                while True:
                    if time.monotonic() > give_up_at:
                        unresolved.append(key)
                        return
                    try:
                        r = session.post(self.server.url("/v1/events"), json=event, timeout=5,
                                         headers={**serverlib.auth(self.admin),
                                                  "Idempotency-Key": key})
                    except requests.RequestException:
                        time.sleep(0.05)  # down or restarting: the port may change
                        continue
                    if r.status_code == 200:
                        acked[key] = (r.json()["log_id"], r.json()["duplicate"])
                        break
                    if r.status_code != 503:
                        protocol_errors.append((key, r.status_code, r.text[:200]))
                        return
                    time.sleep(0.05)

        threads = [threading.Thread(target=client, args=(c,), daemon=True)
                   for c in range(CLIENTS)]
        for t in threads:
            t.start()
        for k in range(kills):
            time.sleep(rng.uniform(0.2, 3.0))
            before = len(acked)
            self.server.kill()
            time.sleep(rng.uniform(0.0, 0.3))
            self.server.start()
            print(f"kill {k + 1}: {before} acknowledged before it", flush=True)
        time.sleep(1.0)
        no_new_events.set()
        for t in threads:
            t.join(60)

        self.assertEqual(protocol_errors, [])
        self.assertEqual(unresolved, [])
        rows = self.query_all()
        self.assertEqual(self.server.stop(), 0, self.server.log_tail())

        per_key = collections.Counter(row["url"][len("/t/"):] for row in rows)
        log_id_of = {row["url"][len("/t/"):]: row["log_id"] for row in rows}
        twice = [key for key, n in per_key.items() if n > 1]
        self.assertEqual(twice, [], "events written more than once")
        for key, (log_id, _) in acked.items():
            self.assertEqual(per_key[key], 1, f"acknowledged {key} is missing")
            self.assertEqual(log_id_of[key], log_id, key)
        # Clients retry until answered, so every row was answered in the end.
        self.assertEqual(set(per_key), set(acked))
        duplicates = sum(1 for _, dup in acked.values() if dup)
        print(f"kill drill: {kills} kills, {len(acked)} acknowledged "
              f"({duplicates} as duplicates of a write whose answer was lost), "
              f"{len(rows)} rows", flush=True)
        self.assertGreater(len(acked), kills)


if __name__ == "__main__":
    serverlib.main()
