from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.fake_openai import FakeOpenAI


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.running() as fake:
        yield fake


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The shared fake, emptied for this test; the test must use up everything it scripted."""
    fake_openai_server.reset()
    yield fake_openai_server
    assert fake_openai_server.unscripted == 0, "the responder made a request the test did not script"
