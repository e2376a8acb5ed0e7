"""Wireshark's extcap protocol for ebcap: Wireshark lists `ebcap-IF` interfaces and captures
through ebcap, with the capture filter typed in its GUI running in the kernel.

Wireshark runs `ebcap extcap` (through the wrapper that `ebcap extcap --install` writes) in one
of these ways:
  --extcap-interfaces [--extcap-version=V]          which interfaces there are
  --extcap-interface X --extcap-dlts                 their link type
  --extcap-interface X --extcap-config               the options its dialog shows
  --extcap-interface X --extcap-capture-filter EXPR  is the filter valid? (no --capture)
  --capture --extcap-interface X --fifo PATH [--extcap-capture-filter EXPR] [options]

A capture runs `ebcap -i IF -w - -U ...` as a child process whose stdout is the fifo. The child is
the same program as the command line tool, and its BPF program and tcx links belong to it alone:
the kernel releases them when it exits, however it exits. This process only opens the fifo,
forwards Wireshark's SIGTERM, stops the child when Wireshark closes the fifo (the fifo's write
end reports POLLERR, even before ebcap has a packet to write), and keeps ebcap's stderr to itself
unless the capture failed, because Wireshark shows any extcap stderr as "Error by extcap pipe".
"""
