# A CD player's lookup with CDDB.pm (Debian's libcddb-perl), unchanged:
# query the server for a table of contents, print the matches, read the
# first. Used by the end-to-end test of food's proxy.
#
#   FOOD_CDDBP=host:port perl cddb_pm_client.pl LEVEL LENGTH OFFSET...
#
# CDDB.pm dials its own list of servers, localhost:8880 first, whatever
# Host and Port say; the socket constructor is wrapped so that this one
# connection reaches the server under test instead.
use strict;
use warnings;
use IO::Socket::INET;

my ($addr, $port) = split /:/, $ENV{FOOD_CDDBP};
{
	no warnings 'redefine';
	my $orig = \&IO::Socket::INET::new;
	*IO::Socket::INET::new = sub {
		my ($class, %a) = @_;
		if (($a{PeerAddr} // '') eq 'localhost' && ($a{PeerPort} // 0) == 8880) {
			($a{PeerAddr}, $a{PeerPort}) = ($addr, $port);
		}
		return $orig->($class, %a);
	};
}
require CDDB;

my ($level, $length, @offsets) = @ARGV;
binmode STDOUT, ':encoding(UTF-8)' if $level >= 6;
my $cddb = CDDB->new(Protocol_Version => $level, Utf8 => ($level >= 6 ? 1 : 0), Login => 'test') or die "CDDB->new failed\n";
my $id = sprintf "%08x", do {
	my $n = 0;
	for my $o (@offsets) { my $s = int($o / 75); $n += $_ for split //, $s; }
	(($n % 255) << 24) | (($length - int($offsets[0] / 75)) << 8) | scalar(@offsets);
};
my @discs = $cddb->get_discs($id, \@offsets, $length);
print "matches ", scalar(@discs), "\n";
print "match $_->[0] $_->[1] $_->[2]\n" for @discs;
exit 2 unless @discs;
my $d = $cddb->get_disc_details($discs[0][0], $discs[0][1]) or die "read failed\n";
print "read $discs[0][0] $discs[0][1]\n";
print "title $d->{dtitle}\n";
print "year ", ($d->{dyear} // ''), "\n";
print "tracks ", scalar(@{$d->{ttitles}}), "\n";
print "track1 $d->{ttitles}[0]\n";
