"""Contests: fantasy-style team boards whose scores derive from real players' points.

Pure core: `model` (declarations, validated), `teams` (team-building rules), `scoring` (feed events →
player point deltas), `settlement` (prize table → payouts, ties split). Adapters: `store_redis`
(teams, entries, the player → entries index and the live board), `ledger_sqlite` and
`ledger_postgres` (the double-entry ledger). `service` wires them; `http` serves them.
"""
