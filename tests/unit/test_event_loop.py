"""DOCFETCH_EVENT_LOOP: the consumer runs on uvloop by default, on the standard loop when asked."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from consumer.cli import loop_factory
from consumer.settings import EventLoop, consumer_settings


def test_uvloop_is_the_default_and_asyncio_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCFETCH_EVENT_LOOP", raising=False)
    assert consumer_settings({}).event_loop is EventLoop.UVLOOP
    monkeypatch.setenv("DOCFETCH_EVENT_LOOP", "asyncio")
    assert consumer_settings({}).event_loop is EventLoop.ASYNCIO


@pytest.mark.parametrize(
    ("choice", "kind"), [(EventLoop.UVLOOP, uvloop.Loop), (EventLoop.ASYNCIO, asyncio.BaseEventLoop)]
)
def test_the_factory_makes_the_chosen_loop(choice: EventLoop, kind: type) -> None:
    loop = loop_factory(choice)()
    try:
        assert isinstance(loop, kind)
        assert choice is EventLoop.UVLOOP or not isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
