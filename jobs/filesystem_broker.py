"""The embedded broker: kombu's filesystem transport with its cross-process races closed.

The embedded broker is a directory that several processes share: ingest publishes jobs, and every
worker consumes them and binds its broadcast and remote-control (pidbox) queues in exchange tables.
kombu 5.7's filesystem Channel lets another process see a file before its content is there:

- an exchange table is created empty and only then locked and written (`_queue_bind`). A second
  worker binding at that moment, or a publisher reading the table, parses "" and fails with a
  JSONDecodeError; a worker died on start-up this way when two started together in CI.
- a message file is created empty, then locked and written (`_put`). A consumer listing the folder in
  between moves it away, parses "" and raises: the message is lost.
- a consumer takes a message by `shutil.move` into the system temp directory when processed messages
  are not kept (`_get`). Where that is another filesystem (a tmpfs /tmp, a container volume) the move
  is a copy then an unlink: two workers can both copy the same message (delivered twice) or one can
  read the shared temp file while the other rewrites it.

Here an exchange table is opened without truncating it and read under its lock, an empty table
meaning no bindings yet; a message is written under a name no consumer matches, then renamed into
place, so consumers see it whole or not at all; and a consumer takes a message by renaming it into
the configured processed folder, which lies beside the queue folder: exactly one rename wins.
Messages are fsynced before they become visible, and one that cannot be parsed is dropped with an
error instead of failing every poll. Everything else is kombu's.

These are private methods of kombu's Channel (`_put`, `_get`, `_queue_bind`, `_delete`), free to
change in any release: they were read and verified against kombu VERIFIED_KOMBU only, pyproject pins
that minor version, and a test fails when another one is installed.

Late acknowledgement hands on no job of a dead worker here: `_get` takes a message off the folder
when it delivers it, and the unacknowledged copy lives only in the worker's memory. A pool process
dying under a live worker is put back by that worker (`reject_on_worker_lost`); a worker killed
mid-job leaves nothing to redeliver, and the sweeper requeues its job (transcoder/sweeper.py).
"""

from __future__ import annotations

import logging
import os
import uuid
from queue import Empty
from time import monotonic
from typing import IO, Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

# The kombu minor version whose filesystem Channel these overrides were read and tested against.
VERIFIED_KOMBU = "5.7"
# What Celery's `broker_transport` setting takes to use this transport for a filesystem:// URL.
TRANSPORT_PATH = "jobs.filesystem_broker:Transport"
# A message being written: the consumer's filter (`name.partition('.')[2] == f'{queue}.msg'`) skips it.
WRITING_SUFFIX = ".writing"


def _read_table(f_obj: IO[bytes]) -> list[filesystem.exchange_queue_t]:
    """The bindings in an exchange table file (read under its lock); a file just created is empty."""
    text = bytes_to_str(f_obj.read())
    if not text.strip():
        return []
    return [filesystem.exchange_queue_t(*q) for q in loads(text)]


def _write_table(f_obj: IO[bytes], queues: list[filesystem.exchange_queue_t]) -> None:
    f_obj.seek(0)
    f_obj.write(str_to_bytes(dumps(queues)))
    f_obj.truncate()


class Channel(filesystem.Channel):
    def get_table(self, exchange: str) -> list[filesystem.exchange_queue_t]:
        file = self._exchange_file(exchange)
        try:
            f_obj = file.open("rb")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        with f_obj:
            filesystem.lock(f_obj, filesystem.LOCK_SH)
            try:
                return _read_table(f_obj)
            finally:
                filesystem.unlock(f_obj)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(exist_ok=True)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            # Created if missing but never truncated: whoever takes the lock first reads what is there.
            f_obj = os.fdopen(os.open(file, os.O_RDWR | os.O_CREAT, 0o644), "rb+", buffering=0)
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        with f_obj:
            filesystem.lock(f_obj, filesystem.LOCK_EX)
            try:
                queues = _read_table(f_obj)
                if binding not in queues:
                    queues.insert(0, binding)
                    _write_table(f_obj, queues)
            finally:
                filesystem.unlock(f_obj)

    def _delete(self, queue: str, exchange: str, routing_key: str, pattern: str, *args: Any, **kwargs: Any) -> None:
        # kombu's own _delete reads the table without allowing for an empty one; skip to the virtual base.
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        file = self._exchange_file(exchange)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            f_obj = file.open("rb+", buffering=0)
        except FileNotFoundError:
            return
        with f_obj:
            filesystem.lock(f_obj, filesystem.LOCK_EX)
            try:
                queues = _read_table(f_obj)
                if binding in queues:
                    queues.remove(binding)
                    _write_table(f_obj, queues)
            finally:
                filesystem.unlock(f_obj)

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        writing = final + WRITING_SUFFIX
        try:
            with open(writing, "wb", buffering=0) as f:
                f.write(str_to_bytes(dumps(payload)))
                # On disk before it is visible: a job queued for an acknowledged upload survives a
                # power cut as a whole message, never as an empty file under its final name.
                os.fsync(f.fileno())
            os.rename(writing, final)
        except OSError as exc:
            try:
                os.unlink(writing)
            except OSError:
                pass
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str) -> Any:
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            taken = os.path.join(self.processed_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), taken)
            except FileNotFoundError:
                if not os.path.isdir(self.processed_folder):
                    raise ChannelError(f"The broker's processed folder {self.processed_folder!r} is missing") from None
                continue  # another consumer took it first
            except OSError as exc:
                raise ChannelError(f"Cannot take {name!r} into {self.processed_folder!r}") from exc
            try:
                with open(taken, "rb") as f:
                    payload = f.read()
                if not self.store_processed:
                    os.remove(taken)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {taken!r} from queue.") from exc
            try:
                return loads(bytes_to_str(payload))
            except ValueError:
                # A message no consumer can read would stop every worker at each poll; drop it
                # loudly and go on (the sweeper re-sends a queued job whose message was lost).
                log.error("dropped unreadable message %s from the broker folder (%d bytes)", name, len(payload))
        raise Empty()


class Transport(filesystem.Transport):
    Channel = Channel
