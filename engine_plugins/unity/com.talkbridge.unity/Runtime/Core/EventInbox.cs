// Events from the network thread, fired on the main thread later, never from inside the code
// that produced them (the same rule as the C++ core's ClientSession::TakeEvents). Each event
// belongs to a connection, named by a generation number: Connect and Disconnect start a new
// one, and Drain drops what an older connection had still queued, so a handler that reconnects
// from onError (or disconnects from onUtteranceEnded) gets none of the old socket's remaining
// events. Drain fires only what was queued before it began, in order; what a handler (or the
// network thread) posts meanwhile comes in the next Drain, so a handler that posts can't loop.
using System;
using System.Collections.Concurrent;
using System.Threading;

namespace TalkBridge.Core
{
    public sealed class EventInbox
    {
        struct Entry
        {
            public int Generation;
            public Action Fire;
        }

        readonly ConcurrentQueue<Entry> queue = new ConcurrentQueue<Entry>();
        int generation;

        /// <summary>The current connection's number.</summary>
        public int Generation => Volatile.Read(ref generation);

        /// <summary>Main thread, on Connect and Disconnect: events of older connections are dropped from now on.</summary>
        public int NewGeneration() => Interlocked.Increment(ref generation);

        /// <summary>Any thread: queues <paramref name="fire"/> for the connection <paramref name="ofGeneration"/>.</summary>
        public void Post(int ofGeneration, Action fire)
        {
            if (fire == null) throw new ArgumentNullException(nameof(fire));
            queue.Enqueue(new Entry { Generation = ofGeneration, Fire = fire });
        }

        /// <summary>Main thread: fires the events queued before this call that belong to the current connection; returns how many fired.</summary>
        public int Drain()
        {
            int pending = queue.Count, fired = 0;
            Entry entry;
            for (int i = 0; i < pending && queue.TryDequeue(out entry); i++)
            {
                if (entry.Generation != Generation) continue; // a handler (or the user) closed that connection
                entry.Fire();
                fired++;
            }
            return fired;
        }
    }
}
