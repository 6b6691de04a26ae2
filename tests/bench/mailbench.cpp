// nfsguard-mailbench: one mail-shaped workload on one directory, timed.
//
//   nfsguard-mailbench WORKLOAD DIR [--ops N] [--procs P] [--size BYTES] [--files N]
//                      [--folder NAME]
//
// Prints one line, `ops=N seconds=S ops_per_s=R`, for tests/bench/run.py,
// which runs it on the raw directory and through nfsguard in turn. A C++
// program rather than a script, so that the program's own cost per
// operation is small beside the filesystem's and the ratios are not
// flattered. Every system call's error ends the run (exit 1, a line on
// stderr): a benchmark that silently skips failures measures nothing.
//
// Workloads (DIR must exist; each run makes its own subdirectory):
//   maildir-rename  deliver: tmp/ file, write SIZE, fsync, close, rename to new/ (Dovecot)
//   maildir-link    the same with link to new/ and unlink of tmp/ (Postfix's local)
//   mbox            append SIZE to one mbox under a dot-lock (O_EXCL *.lock) and fcntl
//   create-unlink   create an empty file, close, unlink it
//   populate        make DIR/FOLDER (default folder) of FILES files of SIZE bytes, named
//                   like read Maildir messages (set-up for scan; ops: files)
//   scan            readdir of DIR/FOLDER and lstat of each entry, at most OPS (ops: entries)
//   seq-write       write a file of OPS blocks of 128 KiB, fsync
//   seq-read        read that file from the start, at most OPS blocks (ops: blocks)
//   rand-read       OPS preads of 4 KiB at random block offsets of that file
//   rand-write      OPS pwrites of 4 KiB at random block offsets, then fsync
//   postmark        PostMark's mix: a pool of FILES files of 512 B..10 KiB, OPS
//                   transactions (create or delete, read or append), then all deleted
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

struct Args {
    std::string workload;
    std::string dir;
    long ops = 1000;
    int procs = 1;
    size_t size = 4096;
    long files = 1000;
    std::string folder = "folder";  // below DIR, for populate and scan
};

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "mailbench: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

void check(bool ok, const std::string& what) {
    if (!ok) die(what);
}

void make_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) die("mkdir " + path);
}

void write_all(int fd, const char* data, size_t n, const std::string& what) {
    while (n > 0) {
        ssize_t w = ::write(fd, data, n);
        if (w < 0 && errno == EINTR) continue;
        check(w > 0, "write " + what);
        data += w;
        n -= static_cast<size_t>(w);
    }
}

std::string unique_name(long i) {
    // Shaped like a Maildir name: time.pid_n.host.
    return std::to_string(::time(nullptr)) + ".P" + std::to_string(::getpid()) + "Q" +
           std::to_string(i) + ".bench";
}

void deliver(const std::string& dir, long i, const std::string& body, bool use_link) {
    const std::string name = unique_name(i);
    const std::string tmp = dir + "/tmp/" + name;
    const std::string dst = dir + "/new/" + name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    check(fd >= 0, "create " + tmp);
    write_all(fd, body.data(), body.size(), tmp);
    check(::fsync(fd) == 0, "fsync " + tmp);
    check(::close(fd) == 0, "close " + tmp);
    if (use_link) {
        check(::link(tmp.c_str(), dst.c_str()) == 0, "link " + dst);
        check(::unlink(tmp.c_str()) == 0, "unlink " + tmp);
    } else {
        check(::rename(tmp.c_str(), dst.c_str()) == 0, "rename " + dst);
    }
}

// Runs `work(first, count)` in `procs` processes sharing `ops` between them.
template <typename Work>
void in_processes(int procs, long ops, Work work) {
    if (procs <= 1) return work(0, ops);
    std::vector<pid_t> children;
    for (int p = 0; p < procs; ++p) {
        const long first = ops * p / procs;
        const long count = ops * (p + 1) / procs - first;
        pid_t pid = ::fork();
        check(pid >= 0, "fork");
        if (pid == 0) {
            work(first, count);
            std::_Exit(0);
        }
        children.push_back(pid);
    }
    bool failed = false;
    for (pid_t pid : children) {
        int status = 0;
        check(::waitpid(pid, &status, 0) == pid, "waitpid");
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    if (failed) {
        std::fprintf(stderr, "mailbench: a worker process failed\n");
        std::exit(1);
    }
}

void maildir(const Args& a, bool use_link) {
    const std::string box = a.dir + "/Maildir";
    make_dir(box);
    make_dir(box + "/tmp");
    make_dir(box + "/new");
    make_dir(box + "/cur");
    const std::string body(a.size, 'm');
    in_processes(a.procs, a.ops, [&](long first, long count) {
        for (long i = first; i < first + count; ++i) deliver(box, i, body, use_link);
    });
}

void mbox(const Args& a) {
    const std::string box = a.dir + "/mbox";
    const std::string lock = box + ".lock";
    const std::string body = "From bench@example.org Thu Jan  1 00:00:00 1970\n" +
                             std::string(a.size > 60 ? a.size - 60 : 1, 'm') + "\n\n";
    in_processes(a.procs, a.ops, [&](long, long count) {
        for (long i = 0; i < count; ++i) {
            int lfd;
            while ((lfd = ::open(lock.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0) {
                check(errno == EEXIST, "dot-lock " + lock);
                ::usleep(100);
            }
            check(::close(lfd) == 0, "close " + lock);
            int fd = ::open(box.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
            check(fd >= 0, "open " + box);
            struct flock fl {};
            fl.l_type = F_WRLCK;
            fl.l_whence = SEEK_SET;
            check(::fcntl(fd, F_SETLKW, &fl) == 0, "fcntl lock " + box);
            write_all(fd, body.data(), body.size(), box);
            check(::fsync(fd) == 0, "fsync " + box);
            fl.l_type = F_UNLCK;
            check(::fcntl(fd, F_SETLK, &fl) == 0, "fcntl unlock " + box);
            check(::close(fd) == 0, "close " + box);
            check(::unlink(lock.c_str()) == 0, "unlink " + lock);
        }
    });
}

void create_unlink(const Args& a) {
    const std::string dir = a.dir + "/cu";
    make_dir(dir);
    in_processes(a.procs, a.ops, [&](long first, long count) {
        for (long i = first; i < first + count; ++i) {
            const std::string path = dir + "/" + unique_name(i);
            int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
            check(fd >= 0, "create " + path);
            check(::close(fd) == 0, "close " + path);
            check(::unlink(path.c_str()) == 0, "unlink " + path);
        }
    });
}

void populate(const Args& a) {
    const std::string dir = a.dir + "/" + a.folder;
    make_dir(dir);
    const std::string body(a.size, 'p');
    for (long i = 0; i < a.files; ++i) {
        const std::string path =
            dir + "/" + std::to_string(1700000000 + i) + ".M" + std::to_string(i) + ".bench:2,S";
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        check(fd >= 0, "create " + path);
        write_all(fd, body.data(), body.size(), path);
        check(::close(fd) == 0, "close " + path);
    }
}

long scan(const Args& a) {
    const std::string dir = a.dir + "/" + a.folder;
    DIR* d = ::opendir(dir.c_str());
    check(d != nullptr, "opendir " + dir);
    long n = 0;
    errno = 0;
    while (n < a.ops) {
        struct dirent* e = ::readdir(d);
        if (e == nullptr) break;
        if (e->d_name[0] == '.') continue;
        struct stat st;
        check(::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0,
              std::string("lstat ") + e->d_name);
        ++n;
    }
    check(errno == 0, "readdir " + dir);
    ::closedir(d);
    return n;
}

constexpr size_t kSeqBlock = 128 * 1024;
constexpr size_t kRandBlock = 4096;

std::string data_file(const Args& a) {
    return a.dir + "/data";
}

void seq_write(const Args& a) {
    const std::string path = data_file(a);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    check(fd >= 0, "create " + path);
    const std::string block(kSeqBlock, 's');
    for (long i = 0; i < a.ops; ++i) write_all(fd, block.data(), block.size(), path);
    check(::fsync(fd) == 0, "fsync " + path);
    check(::close(fd) == 0, "close " + path);
}

long seq_read(const Args& a) {
    const std::string path = data_file(a);
    int fd = ::open(path.c_str(), O_RDONLY);
    check(fd >= 0, "open " + path);
    std::vector<char> buf(kSeqBlock);
    long blocks = 0;
    while (blocks < a.ops) {
        ssize_t r = ::read(fd, buf.data(), buf.size());
        if (r < 0 && errno == EINTR) continue;
        check(r >= 0, "read " + path);
        if (r == 0) break;
        ++blocks;
    }
    ::close(fd);
    return blocks;
}

void random_io(const Args& a, bool write) {
    const std::string path = data_file(a);
    int fd = ::open(path.c_str(), write ? O_WRONLY : O_RDONLY);
    check(fd >= 0, "open " + path);
    struct stat st;
    check(::fstat(fd, &st) == 0, "fstat " + path);
    const long blocks = st.st_size / static_cast<long>(kRandBlock);
    check(blocks > 0, "empty data file " + path + " (run seq-write first)");
    std::mt19937_64 rng(42);
    std::vector<char> buf(kRandBlock, 'r');
    for (long i = 0; i < a.ops; ++i) {
        const off_t off = static_cast<off_t>(rng() % blocks) * static_cast<off_t>(kRandBlock);
        ssize_t n = write ? ::pwrite(fd, buf.data(), buf.size(), off)
                          : ::pread(fd, buf.data(), buf.size(), off);
        check(n == static_cast<ssize_t>(kRandBlock), write ? "pwrite " + path : "pread " + path);
    }
    if (write) check(::fsync(fd) == 0, "fsync " + path);
    ::close(fd);
}

// PostMark (Katcher, NetApp TR3022): a pool of small files, then transactions
// that each pair a create or a delete with a read or an append.
void postmark(const Args& a) {
    const std::string dir = a.dir + "/pm";
    make_dir(dir);
    std::mt19937_64 rng(7);
    auto size = [&] { return 512 + rng() % (10 * 1024 - 512); };
    const std::string data(10 * 1024, 'p');
    std::vector<std::string> pool;
    long next = 0;
    auto create = [&] {
        const std::string path = dir + "/" + std::to_string(next++);
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
        check(fd >= 0, "create " + path);
        write_all(fd, data.data(), size(), path);
        check(::close(fd) == 0, "close " + path);
        pool.push_back(path);
    };
    auto remove = [&] {
        const size_t i = rng() % pool.size();
        check(::unlink(pool[i].c_str()) == 0, "unlink " + pool[i]);
        pool[i] = pool.back();
        pool.pop_back();
    };
    for (long i = 0; i < a.files; ++i) create();
    std::vector<char> buf(10 * 1024);
    for (long t = 0; t < a.ops; ++t) {
        if (rng() % 2 || pool.empty())
            create();
        else
            remove();
        if (pool.empty()) continue;
        const std::string& path = pool[rng() % pool.size()];
        if (rng() % 2) {
            int fd = ::open(path.c_str(), O_RDONLY);
            check(fd >= 0, "open " + path);
            while (::read(fd, buf.data(), buf.size()) > 0) {
            }
            ::close(fd);
        } else {
            int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
            check(fd >= 0, "open " + path);
            write_all(fd, data.data(), size() % 4096 + 1, path);
            check(::close(fd) == 0, "close " + path);
        }
    }
    while (!pool.empty()) remove();
}

bool parse(int argc, char** argv, Args& a) {
    if (argc < 3) return false;
    a.workload = argv[1];
    a.dir = argv[2];
    for (int i = 3; i + 1 < argc; i += 2) {
        const std::string key = argv[i];
        if (key == "--folder") {
            a.folder = argv[i + 1];
            continue;
        }
        const long v = std::strtol(argv[i + 1], nullptr, 10);
        if (key == "--ops")
            a.ops = v;
        else if (key == "--procs")
            a.procs = static_cast<int>(v);
        else if (key == "--size")
            a.size = static_cast<size_t>(v);
        else if (key == "--files")
            a.files = v;
        else
            return false;
    }
    return a.ops >= 0 && a.procs >= 1;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (!parse(argc, argv, a)) {
        std::fprintf(stderr,
                     "usage: nfsguard-mailbench WORKLOAD DIR [--ops N] [--procs P] [--size B] "
                     "[--files N] [--folder NAME]\n");
        return 2;
    }
    const auto start = std::chrono::steady_clock::now();
    long ops = a.ops;
    const std::string& w = a.workload;
    if (w == "maildir-rename")
        maildir(a, false);
    else if (w == "maildir-link")
        maildir(a, true);
    else if (w == "mbox")
        mbox(a);
    else if (w == "create-unlink")
        create_unlink(a);
    else if (w == "populate")
        populate(a), ops = a.files;
    else if (w == "scan")
        ops = scan(a);
    else if (w == "seq-write")
        seq_write(a);
    else if (w == "seq-read")
        ops = seq_read(a);
    else if (w == "rand-read")
        random_io(a, false);
    else if (w == "rand-write")
        random_io(a, true);
    else if (w == "postmark")
        postmark(a);
    else {
        std::fprintf(stderr, "mailbench: unknown workload %s\n", w.c_str());
        return 2;
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("ops=%ld seconds=%.6f ops_per_s=%.1f\n", ops, s, s > 0 ? ops / s : 0.0);
    return 0;
}
