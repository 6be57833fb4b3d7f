#!/usr/bin/env python3
"""Echo that starts a long-lived helper at its first echo: in its group (argv[1] == 'group') or in a session
of its own (argv[1] == 'setsid'); the helper's command line names argv[2] so that a test can find it."""

import subprocess
import sys

from maelstrom_node import Message, Node

node = Node()
started = []


def echo(msg: Message) -> None:
    if not started:
        started.append(True)
        how, marker = sys.argv[1], sys.argv[2]
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", marker], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=how == "setsid")
    node.reply(msg, {"type": "echo_ok", "echo": msg["body"]["echo"]})


node.on("echo", echo)
node.run()
