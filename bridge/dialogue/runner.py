"""One session's dialogue loop: the asyncio shell around :class:`TurnTaking`.

The turn machine is pure (events in, actions out); this module only routes: microphone
audio to :class:`~bridge.dialogue.listening.Listener`, typed turns straight to the machine,
and the machine's actions to the listener (open, drop or finish a recognizer stream) or to
:class:`~bridge.dialogue.replying.Replier` (answer ahead, reply, interrupt).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from bridge.dialogue.listening import Listener
from bridge.dialogue.ports import SpeakingSession
from bridge.dialogue.replying import Replier, TurnMetrics
from bridge.dialogue.seeing import SeenImage, Sight
from bridge.dialogue.services import DialogueServices
from bridge.dialogue.turns import (
    Action,
    CancelListening,
    FinishListening,
    Interrupt,
    Prefetch,
    Respond,
    StartListening,
    TurnTaking,
    UserSpeaking,
)
from bridge.protocol import messages as m

log = logging.getLogger(__name__)


class Dialogue:
    """Listens to one client's microphone (or typed turns) and answers through its session."""

    def __init__(self, session: SpeakingSession, services: DialogueServices) -> None:
        self.session = session
        self.services = services
        self.config = services.config
        self.turns = TurnTaking(self.config.turn)
        self.user = (session.hello.user if session.hello and session.hello.user
                     else (session.hello.client if session.hello else "default"))
        self._tasks: set[asyncio.Task[Any]] = set()
        self.listener = Listener(session, services, self.config, self.turns)
        self.sight = Sight(self.config.image_max_age)
        self.replier = Replier(session, services, self.config, self.turns, self.user, self._spawn,
                               self.sight)

    @property
    def metrics(self) -> deque[TurnMetrics]:
        """The last turns' latency marks, newest last (``talkbridge bench`` reads them)."""
        return self.replier.metrics

    async def on_chat(self, text: str) -> None:
        await self._act(self.turns.chat(text))

    async def on_image(self, image: SeenImage) -> None:
        """Keep the camera's picture for the next turns; one sent with words starts a turn
        about it, as a typed turn of those words would."""
        self.sight.show(image)
        if image.prompt:
            await self._act(self.turns.chat(image.prompt))

    async def on_mic(self, msg: m.Mic) -> None:
        await self.listener.on_mic(msg, self._act)

    def on_playback(self, msg: m.Playback) -> None:
        self.replier.on_playback(msg)

    async def _act(self, actions: list[Action], listening: Any = None) -> None:
        """Carry out the turn machine's actions, in order."""
        for action in actions:
            if isinstance(action, StartListening):
                await self.listener.start(action.t, listening)
            elif isinstance(action, CancelListening):
                await self.listener.drop()
            elif isinstance(action, UserSpeaking):
                log.debug("session %s: user speaking at %.2f s", self.session.id, action.t)
            elif isinstance(action, Prefetch):
                self.listener.prepare()
                await self.replier.ahead.prepare(self.listener.partial)
            elif isinstance(action, FinishListening):
                await self.listener.finish(action.t, self._act)
            elif isinstance(action, Interrupt):
                onset_ago = self.listener.mic_end - self.turns.onset  # mic s since the user began
                await self.replier.interrupt(action.reason, onset_ago)
            elif isinstance(action, Respond):
                await self.replier.respond(action, self.listener.take_marks())

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        self.replier.ahead.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.listener.close()
