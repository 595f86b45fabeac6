"""A do-nothing SMTP server for bench/run: accepts every message, counts them.
Prints its port on the first line of stdout. (Python 3.11's smtpd; CPython removed it in 3.12.)"""
import asyncore
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
import smtpd  # noqa: E402


class Sink(smtpd.SMTPServer):
    received = 0

    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        Sink.received += 1
        return None


sink = Sink(("127.0.0.1", 0), None, decode_data=False)
print(sink.socket.getsockname()[1], flush=True)
try:
    asyncore.loop(timeout=0.05)
except KeyboardInterrupt:
    pass
print(f"received {Sink.received}", file=sys.stderr)
