"""The realtime machinery: the one outlet every frame leaves by, the room hub of each process,
per-room ordering, the chat socket's consumer, and what an open socket may keep."""
