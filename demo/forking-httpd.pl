#!/usr/bin/perl
# forking-httpd.pl — the demo server of `vhqos demo`.
#
# A deliberately classic fork-after-accept HTTP/1.0 server, the shape vhqos
# supervises: the parent accepts a connection and forks; the child reads the
# request, serves it and exits. vhqos sees the child read the request, picks
# the virtual host from the Host header (or the local address) and moves the
# child into that vhost's cgroup before the read returns.
#
# Only perl-base modules (Essential on Debian): no CPAN, no apt.
#
#   forking-httpd.pl --listen 127.0.0.1:8080 [--listen [::1]:8080 ...]
#
#   GET /whoami       this child's pid, ppid and /proc/self/cgroup
#   GET /burn?ms=N    burn N ms of CPU in this child, then report as /whoami
#
#   curl -H 'Host: gold.demo' http://127.0.0.1:8080/burn?ms=200
use strict;
use warnings;
use Getopt::Long qw(GetOptions);
use IO::Select;
use IO::Socket::IP;
use POSIX qw(WNOHANG);

my @listen;
GetOptions('listen=s' => \@listen) && @listen
  or die "usage: $0 --listen IP:PORT [--listen [IPv6]:PORT ...]\n";

my @servers;
for my $spec (@listen) {
  my ($host, $port) = $spec =~ /^\[(.+)\]:(\d+)$/ ? ($1, $2)
                    : $spec =~ /^([^:]+):(\d+)$/   ? ($1, $2)
                    : die "bad --listen '$spec' (want IP:PORT or [IPv6]:PORT)\n";
  my $sock = IO::Socket::IP->new(
    LocalHost => $host, LocalPort => $port, Listen => 128, ReuseAddr => 1,
    ($host =~ /:/ ? (V6Only => ($host eq '::' ? 0 : 1)) : ()),  # "::" is dual-stack
  ) or die "listen $spec: $@\n";
  push @servers, $sock;
}

my %children;
my $running = 1;
my $sigchld = POSIX::SigSet->new(POSIX::SIGCHLD());
$SIG{CHLD} = sub { while ((my $pid = waitpid(-1, WNOHANG)) > 0) { delete $children{$pid} } };
$SIG{TERM} = $SIG{INT} = sub { $running = 0 };
$SIG{PIPE} = 'IGNORE';
$| = 1;
print "forking-httpd: pid $$ listening on @listen\n";

my $select = IO::Select->new(@servers);
while ($running) {
  # The timeout bounds how long a TERM arriving just before select() waits.
  for my $listener ($select->can_read(1)) {
    my $conn = $listener->accept or next;
    # Hold SIGCHLD until the child is recorded: a child that exits at once
    # must not be reaped before we know it.
    POSIX::sigprocmask(POSIX::SIG_BLOCK(), $sigchld);
    my $pid = fork;
    if (defined $pid && $pid == 0) {
      $SIG{$_} = 'DEFAULT' for qw(CHLD TERM INT PIPE);
      POSIX::sigprocmask(POSIX::SIG_UNBLOCK(), $sigchld);
      close $_ for @servers;
      serve($conn);
      POSIX::_exit(0);
    }
    $children{$pid} = 1 if defined $pid;
    POSIX::sigprocmask(POSIX::SIG_UNBLOCK(), $sigchld);
    warn "fork: $!\n" unless defined $pid;
    close $conn;    # the child has its own copy
  }
}

# Stop: no new connections; give running children a moment, then end them.
close $_ for @servers;
for (1 .. 50) { last unless %children; select(undef, undef, undef, 0.1) }
kill 'TERM', keys %children if %children;
1 while waitpid(-1, 0) > 0;
print "forking-httpd: stopped\n";
exit 0;

sub serve {
  my ($conn) = @_;
  alarm 30;    # a client that never finishes its request does not keep us
  my $req = '';
  while ($req !~ /\r?\n\r?\n/ && length($req) < 65536) {
    my $n = sysread($conn, $req, 4096, length $req);
    last unless $n;
  }
  my ($method, $target) = $req =~ /^(\S+) +(\S+)/;
  return respond($conn, 400, "bad request\n") unless defined $target;
  my ($host) = $req =~ /^Host:[ \t]*([^\r\n]*)/mi;
  my ($path, $query) = split /\?/, $target, 2;
  $query = '' unless defined $query;

  if ($path eq '/whoami') {
    respond($conn, 200, report($conn, $host, $target));
  } elsif ($path eq '/burn') {
    my ($ms) = $query =~ /(?:^|&)ms=(\d+)/;
    $ms = 100 unless defined $ms;
    $ms = 60000 if $ms > 60000;
    my %burn = burn($ms);
    respond($conn, 200, report($conn, $host, $target, %burn));
  } elsif ($path eq '/') {
    respond($conn, 200, "vhqos demo server (pid $$)\ntry /whoami or /burn?ms=200\n");
  } else {
    respond($conn, 404, "not found\n");
  }
}

# Burn ms of CPU in this process: loop until the process CPU clock has
# advanced by ms, so the work is fixed and only the wall time depends on
# how much CPU this vhost's cgroup gets.
sub burn {
  my ($ms) = @_;
  my $tck = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
  my ($wall0) = POSIX::times();
  my $cpu0 = POSIX::clock();    # microseconds of CPU used by this process
  my $x = 0;
  while (POSIX::clock() - $cpu0 < $ms * 1000) {
    $x = ($x * 31 + $_) % 1000003 for 1 .. 2000;
  }
  my ($wall1) = POSIX::times();
  return (burn_ms => $ms,
          cpu_ms  => int((POSIX::clock() - $cpu0) / 1000),
          wall_ms => int(($wall1 - $wall0) * 1000 / $tck));
}

# Same format as test/fixtures/cgi/whoami: "key: value" lines, then the
# cgroups of this process (read now, after the request was read).
sub report {
  my ($conn, $host, $target, %extra) = @_;
  my $out = "pid: $$\nppid: " . getppid() . "\nserver: demo\nvhost: \n"
          . "host: " . (defined $host ? $host : '') . "\n"
          . "local_addr: " . $conn->sockhost . "\nlocal_port: " . $conn->sockport . "\n"
          . "remote_addr: " . $conn->peerhost . "\nrequest_uri: $target\n";
  $out .= "$_: $extra{$_}\n" for grep { exists $extra{$_} } qw(burn_ms cpu_ms wall_ms);
  if (open my $fh, '<', '/proc/self/cgroup') {
    $out .= "cgroup: $_" while <$fh>;
    close $fh;
  }
  return $out;
}

sub respond {
  my ($conn, $status, $body) = @_;
  my %text = (200 => 'OK', 400 => 'Bad Request', 404 => 'Not Found');
  my $msg = "HTTP/1.0 $status $text{$status}\r\nContent-Type: text/plain\r\n"
          . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
  while (length $msg) {
    my $n = syswrite($conn, $msg) or last;
    substr($msg, 0, $n) = '';
  }
  shutdown($conn, 1);
  close $conn;
}
