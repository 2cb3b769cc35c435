"""kombu's filesystem transport (the embedded default's broker), with whole messages only.

kombu writes a message by opening its file in the queue folder and then writing into it, while a
worker's poll may move and read that file in between: the worker reads half a message, fails to
decode it and exits ("Unrecoverable error: JSONDecodeError"). Here a message is written under a
name the poll skips (it takes only `*.<queue>.msg`), then renamed into place, which is atomic
within one folder: a poll sees a message whole or not at all.
"""

import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
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
