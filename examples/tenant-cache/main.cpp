// memcg-tenant-cache: a memcached-compatible cache whose tenants are memory
// groups (docs/tenant-cache.md).
#include <signal.h>
#include <stdio.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "memcg/fs.hpp"
#include "memcg/group.hpp"
#include "memcg/serve.hpp"
#include "server.hpp"
#include "store.hpp"

namespace {

tcache::Server* g_server = nullptr;

void on_signal(int) {
  if (g_server) g_server->stop();
}

// A byte count in memcg::fs::parse_bytes syntax ("64M", "max").
struct ByteOption {
  std::uint64_t* out;
  std::string operator()(const std::string& s) const {
    std::uint64_t v;
    if (!memcg::fs::parse_bytes(s, v)) return "not a byte count (e.g. 512K, 64M, 1G or max): " + s;
    *out = v;
    return "";
  }
};

}  // namespace

int main(int argc, char** argv) {
  tcache::StoreOptions so;
  tcache::ServerOptions sv;
  std::string port_file, socket_path, memory = "64M", tmax = "max", tlow = "0", tmin = "0", item_max = "1M";
  std::string delimiter = ":";
  std::vector<std::string> tenant_specs;
  CLI::App app{
      "memcg-tenant-cache: a memcached-compatible cache (text protocol) in which every tenant is a memory "
      "group. A key's tenant is its prefix before the delimiter (acme:user42 -> /tenants/acme); keys without "
      "one belong to /tenants/default. See docs/tenant-cache.md.",
      "memcg-tenant-cache"};
  app.add_option("-p,--port", sv.port, "TCP port on 127.0.0.1 (0: any free port; see --port-file)")
      ->capture_default_str();
  app.add_option("-l,--listen", sv.host, "address to listen on")->capture_default_str();
  app.add_option("-t,--threads", sv.threads, "worker threads (0: one per CPU)")->capture_default_str();
  app.add_option("-c,--conn-limit", sv.max_connections, "most simultaneous connections")->capture_default_str();
  app.add_option("-m,--memory-limit", memory,
                 "memory.max of /tenants: all tenants together (a bare number is MiB, as memcached's -m)")
      ->capture_default_str();
  app.add_option("-I,--max-item-size", item_max, "largest item (key, value and header)")->capture_default_str();
  app.add_option("--tenant-max", tmax, "memory.max of each new tenant")->capture_default_str();
  app.add_option("--tenant-low", tlow, "memory.low of each new tenant (protection from others' reclaim)")
      ->capture_default_str();
  app.add_option("--tenant-min", tmin, "memory.min of each new tenant")->capture_default_str();
  app.add_option("--tenant", tenant_specs,
                 "limits of one tenant, NAME:max=B,low=B,min=B (any of them; the others as the template); "
                 "repeatable");
  app.add_option("--delimiter", delimiter, "the character that ends a key's tenant prefix")->capture_default_str();
  app.add_option("--max-tenants", so.max_tenants, "tenants beyond this many go to /tenants/default")
      ->capture_default_str();
  app.add_option("--port-file", port_file, "write the port listened on to this file once listening");
  app.add_option("--socket", socket_path,
                 "serve the memory tree on this control socket (memcgctl --attach PATH: read and change "
                 "limits while it runs)");
  CLI11_PARSE(app, argc, argv);

  // memcached's habits: -m 64 means 64 MiB; suffixes may be lower case.
  if (!memory.empty() && memory.find_first_not_of("0123456789") == std::string::npos) memory += "M";
  for (std::string* s : {&memory, &tmax, &tlow, &tmin, &item_max})
    if (!s->empty() && std::string("kmgt").find(s->back()) != std::string::npos) s->back() = static_cast<char>(s->back() - 32);
  for (auto [text, out] : {std::pair{&memory, &so.memory_limit}, std::pair{&tmax, &so.tenant_max},
                           std::pair{&tlow, &so.tenant_low}, std::pair{&tmin, &so.tenant_min}}) {
    const std::string e = ByteOption{out}(*text);
    if (!e.empty()) {
      fprintf(stderr, "memcg-tenant-cache: %s\n", e.c_str());
      return 2;
    }
  }
  std::uint64_t im;
  if (!memcg::fs::parse_bytes(item_max, im) || im < 1024 || im > (std::uint64_t{1} << 30)) {
    fprintf(stderr, "memcg-tenant-cache: bad --max-item-size (1K to 1G): %s\n", item_max.c_str());
    return 2;
  }
  so.item_max = im;
  if (delimiter.size() != 1) {
    fprintf(stderr, "memcg-tenant-cache: --delimiter must be one character\n");
    return 2;
  }
  so.delimiter = delimiter[0];
  for (const std::string& spec : tenant_specs) {
    const std::size_t colon = spec.find(':');
    tcache::TenantLimits lim{so.tenant_max, so.tenant_low, so.tenant_min};
    bool ok = colon != std::string::npos && colon > 0;
    for (std::size_t p = colon + 1; ok && p < spec.size();) {
      std::size_t comma = spec.find(',', p);
      if (comma == std::string::npos) comma = spec.size();
      const std::string kv = spec.substr(p, comma - p);
      const std::size_t eq = kv.find('=');
      const std::string k = eq == std::string::npos ? kv : kv.substr(0, eq);
      std::uint64_t* dst = k == "max" ? &lim.max : k == "low" ? &lim.low : k == "min" ? &lim.min : nullptr;
      ok = dst && eq != std::string::npos && memcg::fs::parse_bytes(kv.substr(eq + 1), *dst);
      p = comma + 1;
    }
    if (!ok) {
      fprintf(stderr, "memcg-tenant-cache: bad --tenant (NAME:max=B,low=B,min=B): %s\n", spec.c_str());
      return 2;
    }
    so.per_tenant[spec.substr(0, colon)] = lim;
  }

  // The store's groups are removed when it goes; memcg::barrier() then
  // waits for their deferred frees before the process exits (README, "Group
  // lifecycle").
  const bool ok = [&] {
    tcache::Store store(so);
    tcache::Server server(store, sv);
    std::string err;
    if (!server.listen(&err)) {
      fprintf(stderr, "memcg-tenant-cache: %s\n", err.c_str());
      return false;
    }
    if (!socket_path.empty()) {
      std::error_code ec;
      memcg::serve(socket_path, ec);
      if (ec) {
        fprintf(stderr, "memcg-tenant-cache: cannot serve %s: %s\n", socket_path.c_str(), ec.message().c_str());
        return false;
      }
    }
    if (!port_file.empty()) {
      std::ofstream f(port_file + ".tmp");
      f << server.port() << "\n";
      f.close();
      std::rename((port_file + ".tmp").c_str(), port_file.c_str());
    }
    g_server = &server;
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    server.run();
    g_server = nullptr;
    return true;
  }();
  memcg::barrier();
  return ok ? 0 : 1;
}
