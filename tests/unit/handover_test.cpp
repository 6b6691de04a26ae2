// What one process hands the next on a mount (fs/daemon/handover.hpp): the
// connection record and a planned restart's tables come back as written,
// and anything else is refused rather than half taken up.
#include "fs/daemon/handover.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

using namespace nfsguard;
using fs::ConnectionRecord;
using fs::Handover;

namespace {

ConnectionRecord a_record() {
    ConnectionRecord r;
    r.epoch = 3;
    r.planned_restarts = 5;
    r.crashes = 2;
    r.mountpoint = "/var/mail";
    r.backing = "/srv/nfs/mail";
    r.init_request = {1, 2, 3, 0, 4};
    return r;
}

}  // namespace

TEST(HandoverTest, TheConnectionRecordReadsBackAndIsWrittenOver) {
    ops::UniqueFd fd = fs::new_record_file(a_record());
    ASSERT_TRUE(fd.valid());
    auto read = fs::read_record(fd.get());
    ASSERT_TRUE(read);
    EXPECT_EQ(read->epoch, 3U);
    EXPECT_EQ(read->planned_restarts, 5U);
    EXPECT_EQ(read->crashes, 2U);
    EXPECT_EQ(read->mountpoint, "/var/mail");
    EXPECT_EQ(read->backing, "/srv/nfs/mail");
    EXPECT_EQ(read->init_request, a_record().init_request);
    read->epoch = 4;
    read->init_request.clear();  // shorter than before: nothing of the old may stay
    ASSERT_TRUE(fs::write_record(fd.get(), *read));
    auto again = fs::read_record(fd.get());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->epoch, 4U);
    EXPECT_TRUE(again->init_request.empty());
}

TEST(HandoverTest, ARecordLeftDrainedSaysSoAndOneOfTheFirstFormatReadsAsACrash) {
    ConnectionRecord r = a_record();
    r.left_drained = true;
    ops::UniqueFd fd = fs::new_record_file(r);
    ASSERT_TRUE(fd.valid());
    auto read = fs::read_record(fd.get());
    ASSERT_TRUE(read);
    EXPECT_TRUE(read->left_drained);
    // The first format ended before the flag: a record a process of that
    // version left is read, as not left drained.
    ASSERT_EQ(::ftruncate(fd.get(), ::lseek(fd.get(), 0, SEEK_END) - 1), 0);
    read = fs::read_record(fd.get());
    ASSERT_TRUE(read);
    EXPECT_FALSE(read->left_drained);
    EXPECT_EQ(read->init_request, a_record().init_request);
}

TEST(HandoverTest, APlannedRestartsTablesReadBack) {
    Handover h;
    h.fuse_fd = 10;
    h.record_fd = 11;
    h.root_fd = 12;
    h.connection = a_record();
    fs::InodeTable::Entry e;
    e.id = (uint64_t{3} << 32) | 2;
    e.dev = 42;
    e.ino = 4711;
    e.type = S_IFREG;
    e.nlookup = 3;
    e.in_index = false;
    e.aliases = {{1, "new"}, {1, std::string("a\nname\0with", 11)}};
    e.open_fds = {20, 21};
    h.inodes.push_back(e);
    h.files.push_back({(uint64_t{3} << 32) | 5, 20});
    h.dirs.push_back({(uint64_t{3} << 32) | 6, 22, 123456789});
    h.locks.push_back({e.id, 0xabc, 77, {(uint64_t{3} << 32) | 5}, 23, "lock-300000002-abc-5"});

    ops::UniqueFd fd = fs::write_handover(h);
    ASSERT_TRUE(fd.valid());
    auto r = fs::read_handover(fd.get());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->fuse_fd, 10);
    EXPECT_EQ(r->root_fd, 12);
    EXPECT_EQ(r->connection.mountpoint, "/var/mail");
    ASSERT_EQ(r->inodes.size(), 1U);
    EXPECT_EQ(r->inodes[0].id, e.id);
    EXPECT_EQ(r->inodes[0].ino, 4711U);
    EXPECT_FALSE(r->inodes[0].in_index);
    EXPECT_EQ(r->inodes[0].aliases, e.aliases);
    EXPECT_EQ(r->inodes[0].open_fds, e.open_fds);
    ASSERT_EQ(r->dirs.size(), 1U);
    EXPECT_EQ(r->dirs[0].offset, 123456789);
    ASSERT_EQ(r->locks.size(), 1U);
    EXPECT_EQ(r->locks[0].pid, 77);
    EXPECT_EQ(r->locks[0].kept_as, "lock-300000002-abc-5");
    EXPECT_EQ(fs::descriptors(*r), (std::vector<int>{10, 11, 12, 20, 22, 23}));
}

TEST(HandoverTest, ATruncatedOrForeignHandoverIsRefused) {
    Handover h;
    h.connection = a_record();
    h.files.push_back({5, 20});
    ops::UniqueFd fd = fs::write_handover(h);
    ASSERT_TRUE(fd.valid());
    const off_t size = ::lseek(fd.get(), 0, SEEK_END);
    for (off_t cut : {off_t{0}, off_t{3}, size / 2, size - 1}) {
        ASSERT_EQ(::ftruncate(fd.get(), cut), 0);
        EXPECT_FALSE(fs::read_handover(fd.get())) << "cut at " << cut;
    }
    // A connection record is not a handover, nor the other way round.
    ops::UniqueFd record = fs::new_record_file(a_record());
    EXPECT_FALSE(fs::read_handover(record.get()));
    EXPECT_FALSE(fs::read_record(fs::write_handover(h).get()));
}
