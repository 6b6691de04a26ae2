// The mirror a crash leaves (fs/table_mirror.hpp): what was put reads back
// in a mirror opened anew from its descriptor, what was cleared does not,
// and a torn record keeps its id from reuse.
#include "fs/table_mirror.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "fs/open_file.hpp"

using nfsguard::fs::TableMirror;
using nfsguard::ops::UniqueFd;

namespace {

constexpr uint64_t kEpoch = 5;
uint64_t id(uint64_t slot) {
    return (kEpoch << 32) | slot;
}

std::unique_ptr<TableMirror> reopened(const TableMirror& m) {
    return TableMirror::open(UniqueFd(::fcntl(m.fd(), F_DUPFD_CLOEXEC, 0)));
}

}  // namespace

TEST(TableMirrorTest, WhatWasPutReadsBackInTheNextProcess) {
    auto m = TableMirror::create();
    ASSERT_NE(m, nullptr);
    m->put(TableMirror::Node{id(2), 1, 100, S_IFDIR, 1, true, 1, "new"});
    m->put(TableMirror::Node{id(3), 1, 101, S_IFREG, 2, true, id(2), "1700000000.M1P2.host"});
    m->put(TableMirror::Node{id(4), 1, 102, S_IFREG, 1, true, id(2), "gone"});
    m->clear_node(id(4));
    m->put(TableMirror::File{id(7), id(3), O_WRONLY | O_APPEND, TableMirror::Kind::file,
                             std::string("\x08\0\0\0\1\0\0\0handle!!", 16)});
    m->put(TableMirror::File{id(8), id(3), O_RDONLY, TableMirror::Kind::file, {}});
    m->clear_file(id(8));

    auto next = reopened(*m);
    ASSERT_NE(next, nullptr);
    auto c = next->read(kEpoch);
    ASSERT_EQ(c.nodes.size(), 2U);
    EXPECT_EQ(c.nodes[1].id, id(3));
    EXPECT_EQ(c.nodes[1].ino, 101U);
    EXPECT_EQ(c.nodes[1].nlookup, 2U);
    EXPECT_EQ(c.nodes[1].parent, id(2));
    EXPECT_EQ(c.nodes[1].name, "1700000000.M1P2.host");
    ASSERT_EQ(c.files.size(), 1U);
    EXPECT_EQ(c.files[0].handle, id(7));
    EXPECT_EQ(c.files[0].node, id(3));
    EXPECT_EQ(c.files[0].flags, O_WRONLY | O_APPEND);
    EXPECT_EQ(c.files[0].backing_handle, std::string("\x08\0\0\0\1\0\0\0handle!!", 16));
    EXPECT_TRUE(c.torn_nodes.empty());
    EXPECT_FALSE(next->overflowed());
}

TEST(TableMirrorTest, AnIdBeyondTheSlotsIsNotMirroredAndSaysSo) {
    auto m = TableMirror::create();
    ASSERT_NE(m, nullptr);
    m->put(TableMirror::Node{id(TableMirror::kSlots), 1, 100, S_IFREG, 1, true, 1, "x"});
    EXPECT_TRUE(m->overflowed());
    EXPECT_TRUE(m->read(kEpoch).nodes.empty());
}

TEST(TableMirrorTest, AnythingButAMirrorIsRefused) {
    UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    EXPECT_EQ(TableMirror::open(std::move(null)), nullptr);
    EXPECT_EQ(TableMirror::open(UniqueFd()), nullptr);
}

TEST(TableMirrorTest, AReplyRecordedIsFoundByItsRequestOnlyAndOutlivesTheProcess) {
    auto m = TableMirror::create();
    ASSERT_NE(m, nullptr);
    const std::vector<char> reply{16, 0, 0, 0, 0, 0, 0, 0, 2, 4, 0, 0, 0, 0, 0, 0};
    EXPECT_FALSE(m->reply_to(1234));
    m->replied(1234, reply);
    m->replied(1236, std::vector<char>(TableMirror::kMaxReply + 1));  // too long: not kept
    auto next = reopened(*m);
    ASSERT_NE(next, nullptr);
    EXPECT_EQ(next->reply_to(1234), reply);
    EXPECT_FALSE(next->reply_to(1236));
    EXPECT_FALSE(next->reply_to(1234 + 2 * TableMirror::kReplies));  // same slot, other request
    next->replied(1234 + 2 * TableMirror::kReplies, reply);          // a later one takes the slot
    EXPECT_FALSE(next->reply_to(1234));
}

// A released handle's id serves the next open at once: its record must be
// gone before then, or a late clear takes the next holder's (a directory
// stream reopened in a loop lost its handle after a crash).
TEST(TableMirrorTest, AHandleRemovedLeavesTheMirrorBeforeItsIdServesAgain) {
    auto m = TableMirror::create();
    ASSERT_NE(m, nullptr);
    nfsguard::fs::Handles<int> dirs(kEpoch);
    dirs.mirror_to(m.get(), TableMirror::Kind::dir);
    const uint64_t first = dirs.add(std::make_unique<int>(1));
    m->put(TableMirror::File{first, id(2), O_RDONLY, TableMirror::Kind::dir, {}});
    dirs.remove(first);
    EXPECT_TRUE(m->read(kEpoch).files.empty());

    // Its id serves again (fs/id_table.hpp, release: the record went while
    // the id still stood for the stream), and the next record stays.
    const uint64_t again = dirs.add(std::make_unique<int>(2));
    ASSERT_EQ(again, first);
    m->put(TableMirror::File{again, id(3), O_RDONLY, TableMirror::Kind::dir, {}});
    ASSERT_EQ(m->read(kEpoch).files.size(), 1U);
    EXPECT_EQ(m->read(kEpoch).files[0].node, id(3));
    dirs.remove(again);  // the table owns what it holds only until removed
}

// An exclusive create is recorded as started before it is done, in its
// reply's place: after a crash the next process learns when, and a reply
// that came replaces it.
TEST(TableMirrorTest, AStartedRequestIsNoReplyAndItsReplyReplacesIt) {
    auto m = TableMirror::create();
    ASSERT_NE(m, nullptr);
    const struct timespec at { 1796641449, 5 };
    m->started(42, at);
    auto next = reopened(*m);
    ASSERT_TRUE(next->started_at(42));
    EXPECT_EQ(next->started_at(42)->at.tv_sec, at.tv_sec);
    EXPECT_EQ(next->started_at(42)->at.tv_nsec, at.tv_nsec);
    EXPECT_FALSE(next->started_at(42)->making);
    EXPECT_FALSE(next->reply_to(42));
    EXPECT_FALSE(next->started_at(44));
    // What it makes, once known, is added; a request not started gets none.
    m->making(42, nfsguard::ops::ObjectId{7, 1234, S_IFREG});
    m->making(44, nfsguard::ops::ObjectId{7, 99, S_IFREG});
    ASSERT_TRUE(next->started_at(42)->making);
    EXPECT_EQ(next->started_at(42)->making->ino, 1234U);
    EXPECT_EQ(next->started_at(42)->at.tv_nsec, at.tv_nsec);
    EXPECT_FALSE(next->started_at(44));
    m->replied(42, std::vector<char>(sizeof(uint64_t) * 2, 'r'));
    EXPECT_FALSE(next->started_at(42));
    EXPECT_TRUE(next->reply_to(42));
    m->making(42, nfsguard::ops::ObjectId{7, 1, S_IFREG});  // answered: left alone
    EXPECT_TRUE(next->reply_to(42));
}

// A lock owner the store refused: its open file's record says so, and
// only that one (the open flags read back unchanged).
TEST(TableMirrorTest, AFileWhoseLockWasNotKeptSaysSo) {
    auto m = TableMirror::create();
    ASSERT_NE(m, nullptr);
    m->put(TableMirror::File{id(7), id(3), O_RDWR | O_APPEND, TableMirror::Kind::file, {}});
    m->put(TableMirror::File{id(8), id(3), O_RDWR, TableMirror::Kind::file, {}});
    m->lock_not_kept(id(7));
    auto c = reopened(*m)->read(kEpoch);
    ASSERT_EQ(c.files.size(), 2U);
    EXPECT_TRUE(c.files[0].lock_lost);
    EXPECT_EQ(c.files[0].flags, O_RDWR | O_APPEND);
    EXPECT_FALSE(c.files[1].lock_lost);
}
