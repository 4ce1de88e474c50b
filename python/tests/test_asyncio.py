"""herald.asyncio: the same names, awaitable; the event loop never blocks."""

import asyncio

import herald.asyncio as aherald


async def until(condition, what: str, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_asyncio_nodes_publish_subscribe_ask_and_answer(node_args):
    async def main():
        async with aherald.Node("async-a", **node_args) as a, aherald.Node("async-b", **node_args) as b:
            async def reverse(question: bytes, sender: str) -> str:
                await asyncio.sleep(0.01)
                return question.decode()[::-1]

            b.answer_with(reverse)
            readings = b.subscribe("t.*")
            await until(lambda: a.subscribers("t.x") == ["async-b"], "a to learn b's topics")
            assert await a.publish("t.x", "one") == 1
            assert await a.publish("t.y", b"two") == 1
            first = await readings.recv(timeout=15)
            second = await readings.__anext__()
            assert [(m.topic, m.payload) for m in (first, second)] == [("t.x", b"one"), ("t.y", b"two")]
            assert await readings.recv(timeout=0.1) is None
            assert await a.ask("async-b", "olleh") == {"async-b": "hello"}
            assert await a.send(["async-b", "ghost"], "hi") == {"async-b": "queued", "ghost": "unknown_peer"}
            assert await a.lookup("nothing") == []

    asyncio.run(main())


def test_a_slow_ask_does_not_block_the_event_loop(node_args):
    async def main():
        async with aherald.Node("asker", **node_args) as asker, aherald.Node("slow", **node_args) as slow:
            async def dawdle(question, sender):
                await asyncio.sleep(0.6)
                return "done"

            slow.answer_with(dawdle)
            await until(lambda: any(p.name == "slow" for p in asker.peers()), "the asker to see the slow one")
            ticks = 0

            async def tick():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            ticker = asyncio.ensure_future(tick())
            assert await asker.ask("slow", "well?", timeout=5) == {"slow": "done"}
            ticker.cancel()
            assert ticks >= 20, f"the loop ran only {ticks} ticks while asking"

    asyncio.run(main())


def test_async_iteration_ends_when_the_node_closes(node_args):
    async def main():
        node = aherald.Node("closer", **node_args)
        changes = []
        node.on_peers(lambda change, peer: changes.append(change))
        messages = node.subscribe("t")
        await node.publish("t", "last")

        async def read_all():
            return [m.payload async for m in messages]

        reader = asyncio.ensure_future(read_all())
        await asyncio.sleep(0.2)
        await node.close()
        assert await asyncio.wait_for(reader, 5) == [b"last"]
        assert node.closed

    asyncio.run(main())
