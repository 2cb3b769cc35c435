"""kombu's filesystem transport (the embedded default's broker): whole messages, and a worker
that outlives its queue folder.

kombu writes a message by opening its file in the queue folder and then writing into it, while a
worker's poll may move and read that file in between: the worker reads half a message, fails to
decode it and exits ("Unrecoverable error: JSONDecodeError"). Here a message is written under a
name the poll skips (it takes only `*.<queue>.msg`), then renamed into place, which is atomic
within one folder: a poll sees a message whole or not at all.

A queue folder that is gone (deleted, its disk unmounted) made kombu's poll raise, and Celery
took that for an unrecoverable error and exited. Here the poll finds nothing instead, makes the
folder again when it is simply missing, and the worker goes on; what was queued meanwhile the
sweep finds in the database.
"""

import logging
import os
import uuid
from queue import Empty
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)


class Channel(filesystem.Channel):
    def _get(self, queue):
        try:
            return super()._get(queue)
        except (filesystem.ChannelError, OSError) as error:
            if not os.path.isdir(self.data_folder_in):
                logger.warning("The broker's queue folder %s is gone: making it again", self.data_folder_in)
                os.makedirs(self.data_folder_in, exist_ok=True)
            raise Empty() from error

    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as error:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from error


class Transport(filesystem.Transport):
    Channel = Channel
