# A sample application: writes a row a second to the SQLite database named by DB, in WAL mode, and on SIGTERM
# (what `docker stop` sends; Ferry forwards it) commits a last row and exits 0.
import os, signal, sqlite3, sys, time

con = sqlite3.connect(os.environ["DB"], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("CREATE TABLE IF NOT EXISTS visits (id INTEGER PRIMARY KEY, at TEXT NOT NULL)")
print("app: %d rows at start" % con.execute("SELECT count(*) FROM visits").fetchone()[0], flush=True)

def stop(signum, frame):
    con.execute("INSERT INTO visits (at) VALUES ('shutdown ' || datetime('now'))")
    con.close()
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
while True:
    con.execute("INSERT INTO visits (at) VALUES (datetime('now'))")
    time.sleep(1)
