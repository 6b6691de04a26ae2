// Ids the kernel is given (node ids, handles): ids this run can vouch for,
// and any other id is unknown (answered ESTALE), never another object.
#include "fs/id_table.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "fs/inode_table.hpp"
#include "fs/open_file.hpp"
#include "temp_dir.hpp"

using nfsguard::fs::Inode;
using nfsguard::fs::InodeTable;
using nfsguard::test::TempDir;
using NodeIds = nfsguard::fs::IdTable<Inode>;

TEST(IdTableTest, AnIdGivenFindsItsInodeUntilReleased) {
    NodeIds ids(1);
    Inode a(1, 10, S_IFREG);
    const uint64_t id = ids.assign(&a);
    EXPECT_EQ(ids.find(id), &a);
    ids.release(id);
    EXPECT_EQ(ids.find(id), nullptr);
}

// What records the id elsewhere (the crash mirror) is cleared while the id
// still stands for its object: no next object can have it yet.
TEST(IdTableTest, WhatReleasesAnIdRunsBeforeItsSlotCanServeAgain) {
    NodeIds ids(1);
    Inode a(1, 10, S_IFREG);
    const uint64_t id = ids.assign(&a);
    int ran = 0;
    EXPECT_EQ(ids.release(id,
                          [&](uint64_t released) {
                              ++ran;
                              EXPECT_EQ(released, id);
                              EXPECT_EQ(ids.find(id), &a) << "still held";
                          }),
              &a);
    EXPECT_EQ(ran, 1);
    EXPECT_EQ(ids.find(id), nullptr);
    EXPECT_EQ(ids.release(id, [&](uint64_t) { ++ran; }), nullptr);
    EXPECT_EQ(ran, 1) << "not for an id no longer given";
}

TEST(IdTableTest, IdsOfAnotherEpochAreUnknown) {
    NodeIds before(1), after(2);
    Inode a(1, 10, S_IFREG), b(1, 11, S_IFREG);
    const uint64_t old_id = before.assign(&a);
    const uint64_t new_id = after.assign(&b);
    EXPECT_NE(old_id, new_id) << "the same slot, another epoch";
    EXPECT_EQ(after.find(old_id), nullptr);
}

TEST(IdTableTest, IdsNeverGivenAreUnknown) {
    NodeIds ids(1);
    Inode a(1, 10, S_IFREG);
    const uint64_t id = ids.assign(&a);
    EXPECT_EQ(ids.find(0), nullptr);
    EXPECT_EQ(ids.find(1), nullptr) << "the root is not one of these";
    EXPECT_EQ(ids.find(id + 1), nullptr);
    EXPECT_EQ(ids.find(reinterpret_cast<uintptr_t>(&a)), nullptr) << "an address is no id";
    EXPECT_EQ(ids.find(~uint64_t{0}), nullptr);
}

TEST(IdTableTest, AReleasedSlotServesAgainAndManyIdsStayDistinct) {
    NodeIds ids(7);
    std::vector<std::unique_ptr<Inode>> inodes;
    std::vector<uint64_t> given;
    for (ino_t i = 0; i < 70000; ++i) {  // more than one chunk of slots
        inodes.push_back(std::make_unique<Inode>(1, i, S_IFREG));
        given.push_back(ids.assign(inodes.back().get()));
    }
    for (size_t i = 0; i < given.size(); ++i) ASSERT_EQ(ids.find(given[i]), inodes[i].get());
    ids.release(given[5]);
    Inode again(1, 99999999, S_IFREG);
    EXPECT_EQ(ids.assign(&again), given[5]) << "the kernel forgot it: the slot serves again";
}

TEST(IdTableTest, TheInodeTableAnswersOnlyIdsItGave) {
    TempDir dir;
    dir.write("f", "x");
    nfsguard::ops::Syscalls sys;
    struct stat root_st {
    }, f_st{};
    ASSERT_EQ(::stat(dir.path().c_str(), &root_st), 0);
    ASSERT_EQ(::lstat((dir / "f").c_str(), &f_st), 0);
    InodeTable table(sys, nfsguard::ops::UniqueFd(::open(dir.path().c_str(), O_PATH | O_CLOEXEC)),
                     root_st, 16, /*epoch=*/3);
    Inode& f = table.remember(table.root(), "f", f_st);
    const uint64_t id = table.id_of(f);
    EXPECT_EQ(table.find(id), &f);
    EXPECT_EQ(table.find(InodeTable::kRootId), &table.root());
    EXPECT_EQ(table.find(reinterpret_cast<uintptr_t>(&f)), nullptr);
    table.forget(f, 1);
    EXPECT_EQ(table.find(id), nullptr) << "forgotten by the kernel, gone from the table";
}

// A request that found a handle's object keeps it: the release of a process
// killed in its close may remove the handle while its flush is served.
TEST(IdTableTest, WhatAHandleStandsForLivesWhileARequestHoldsIt) {
    nfsguard::fs::Handles<int> handles(1);
    const uint64_t h = handles.add(std::make_unique<int>(42));
    auto held = handles.find(h);
    auto removed = handles.remove(h);
    ASSERT_NE(removed, nullptr);
    removed.reset();
    EXPECT_EQ(handles.find(h), nullptr);
    EXPECT_EQ(*held, 42) << "still there for the request that holds it";
}

TEST(IdTableTest, AHandleStandsForItsObjectUntilRemovedAndNoOtherHandleDoes) {
    nfsguard::fs::Handles<int> handles(1);
    const uint64_t h = handles.add(std::make_unique<int>(42));
    ASSERT_NE(handles.find(h), nullptr);
    EXPECT_EQ(*handles.find(h), 42);
    EXPECT_EQ(handles.find(h + 1), nullptr);
    nfsguard::fs::Handles<int> next_run(2);
    EXPECT_EQ(next_run.find(h), nullptr) << "a handle of another run is unknown";
    auto owned = handles.remove(h);
    ASSERT_NE(owned, nullptr);
    EXPECT_EQ(*owned, 42);
    EXPECT_EQ(handles.find(h), nullptr);
    EXPECT_EQ(handles.remove(h), nullptr) << "released once";
}

// --- A planned restart hands the ids over (fs/daemon/handover.hpp).

TEST(IdTableTest, IdsPlacedByTheNextProcessStandAndTheGapsServeAgain) {
    NodeIds before(3);
    Inode a(1, 10, S_IFREG), b(1, 11, S_IFREG), c(1, 12, S_IFREG);
    const uint64_t ia = before.assign(&a), ib = before.assign(&b), ic = before.assign(&c);
    before.release(ib);

    NodeIds after(3);
    ASSERT_TRUE(after.place(ia, &a));
    ASSERT_TRUE(after.place(ic, &c));
    EXPECT_FALSE(after.place(ic, &b));                       // taken
    EXPECT_FALSE(after.place((uint64_t{4} << 32) | 9, &b));  // another epoch
    after.done_placing();
    EXPECT_EQ(after.find(ia), &a);
    EXPECT_EQ(after.find(ic), &c);
    EXPECT_EQ(after.find(ib), nullptr);
    // New ids take the gap, then go on after the highest: none is given twice.
    Inode d(1, 13, S_IFREG), e(1, 14, S_IFREG);
    EXPECT_EQ(after.assign(&d), ib);
    const uint64_t ie = after.assign(&e);
    EXPECT_NE(ie, ia);
    EXPECT_NE(ie, ic);
    std::vector<uint64_t> seen;
    after.for_each([&](uint64_t id, Inode*) { seen.push_back(id); });
    EXPECT_EQ(seen.size(), 4U);
}

TEST(IdTableTest, TheInodeTableHandsItsEntriesToTheNextProcess) {
    TempDir dir;
    ::mkdir((dir / "new").c_str(), 0755);
    dir.write("new/1", "message");
    nfsguard::ops::Syscalls sys;
    auto make_table = [&] {
        nfsguard::ops::UniqueFd root(::open(dir.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        struct stat st {};
        ::fstat(root.get(), &st);
        return std::make_unique<InodeTable>(sys, std::move(root), st, 16, 7);
    };
    auto stat_of = [&](const std::string& p) {
        struct stat st {};
        ::lstat((dir / p).c_str(), &st);
        return st;
    };
    auto before = make_table();
    Inode& nw = before->remember(before->root(), "new", stat_of("new"));
    Inode& msg = before->remember(nw, "1", stat_of("new/1"));
    before->remember(nw, "1", stat_of("new/1"));  // two lookups

    auto after = make_table();
    EXPECT_EQ(after->restore(before->entries()), 0U);
    Inode* nw2 = after->find(nw.id);
    Inode* msg2 = after->find(msg.id);
    ASSERT_NE(nw2, nullptr);
    ASSERT_NE(msg2, nullptr);
    EXPECT_EQ(msg2->ino, msg.ino);
    EXPECT_EQ(msg2->nlookup, 2U);
    // The names came along: the message is reached by them, and known there.
    EXPECT_TRUE(after->known_at(*nw2, "1").has_value());
    auto held = after->locate(*msg2);
    ASSERT_TRUE(held) << held.error();
    EXPECT_EQ(held->name, "1");
    // The kernel's forgets free them as they would have in the first process.
    after->forget(*msg2, 2);
    EXPECT_EQ(after->find(msg.id), nullptr);
    ASSERT_EQ(after->find(nw.id), nw2);  // its own lookup holds it
    after->forget(*nw2, 1);
    EXPECT_EQ(after->find(nw.id), nullptr);
}
