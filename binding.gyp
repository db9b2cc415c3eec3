{
  "targets": [
    {
      "target_name": "vhqos",
      "sources": [
        "native/acceptor.cc",
        "native/agent_listener.cc",
        "native/agent_listener_binding.cc",
        "native/addon.cc",
        "native/cgroup_mover.cc",
        "native/connection_slots.cc",
        "native/fd_passing.cc",
        "native/filter.cc",
        "native/first_read.cc",
        "native/request_watch.cc",
        "native/inspect.cc",
        "native/js_error.cc",
        "native/keeper.cc",
        "native/notify_loop.cc",
        "native/open_files.cc",
        "native/own_connection.cc",
        "native/peer_cred.cc",
        "native/pids_allowance.cc",
        "native/probes.cc",
        "native/reconfigure.cc",
        "native/process_table.cc",
        "native/sock_diag.cc",
        "native/spawn.cc",
        "native/unix_socket.cc",
        "native/host_name.cc",
        "native/http_host.cc",
        "native/h2_authority.cc",
        "native/ip_text.cc",
        "native/name_map.cc",
        "native/tls_sni.cc",
        "native/vhost_table.cc",
        "native/vhost_table_binding.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wno-unused-result"],
      "libraries": ["-lseccomp"]
    }
  ]
}
