using System.Collections.Generic;
using System.Threading;
using NUnit.Framework;
using TalkBridge.Core;

namespace TalkBridge.Tests
{
    /// <summary>
    /// The event-deferral rule, in the C# core (as ClientSessionTest's
    /// EventsAreHandedOverAfterReceiveNeverFiredFromInsideIt in the C++ core): the network side
    /// only queues; the main thread fires in order; a handler that re-enters (reconnects,
    /// disconnects, posts) leaves the batch it is in alone, and what it causes comes next.
    /// </summary>
    [TestFixture]
    public class EventInboxTests
    {
        [Test]
        public void EventsPostedFromTheNetworkThreadFireOnlyInDrainInOrder()
        {
            var inbox = new EventInbox();
            int connection = inbox.NewGeneration();
            var fired = new List<int>();
            var network = new Thread(() => { for (int i = 0; i < 100; i++) { int n = i; inbox.Post(connection, () => fired.Add(n)); } });
            network.Start();
            network.Join();
            Assert.IsEmpty(fired);                       // nothing fires where it was posted
            Assert.AreEqual(100, inbox.Drain());
            CollectionAssert.AreEqual(System.Linq.Enumerable.Range(0, 100), fired);
            Assert.AreEqual(0, inbox.Drain());
        }

        [Test]
        public void AHandlerThatReconnectsGetsNoneOfTheOldConnectionsRestAndItsOwnEventsComeNext()
        {
            var inbox = new EventInbox();
            int old = inbox.NewGeneration();
            var fired = new List<string>();
            int fresh = 0;
            inbox.Post(old, () =>
            {
                fired.Add("onError");
                fresh = inbox.NewGeneration();            // the Blueprint/UnityEvent calls Connect()
                inbox.Post(fresh, () => fired.Add("onConnected"));
            });
            inbox.Post(old, () => fired.Add("old audio"));
            inbox.Post(old, () => fired.Add("old onDisconnected"));
            Assert.AreEqual(1, inbox.Drain());
            CollectionAssert.AreEqual(new[] { "onError" }, fired);  // the handler's own event waits
            Assert.AreEqual(1, inbox.Drain());
            CollectionAssert.AreEqual(new[] { "onError", "onConnected" }, fired);
        }

        [Test]
        public void AHandlerThatPostsCannotKeepDrainRunning()
        {
            var inbox = new EventInbox();
            int connection = inbox.NewGeneration();
            int runs = 0;
            System.Action again = null;
            again = () => { runs++; inbox.Post(connection, again); };
            inbox.Post(connection, again);
            Assert.AreEqual(1, inbox.Drain());
            Assert.AreEqual(1, inbox.Drain());
            Assert.AreEqual(2, runs);
        }

        [Test]
        public void ADisconnectDropsWhatTheClosedConnectionStillHadQueued()
        {
            var inbox = new EventInbox();
            int connection = inbox.NewGeneration();
            var fired = new List<string>();
            inbox.Post(connection, () => fired.Add("reply"));
            inbox.NewGeneration();                        // Disconnect() before the next Update
            inbox.Post(connection, () => fired.Add("late error of the closed socket"));
            Assert.AreEqual(0, inbox.Drain());
            Assert.IsEmpty(fired);
        }
    }
}
