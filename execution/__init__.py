"""Running user code: how rank processes are started and confined."""
