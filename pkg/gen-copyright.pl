#!/usr/bin/perl
# Writes the Debian copyright file of the opskit package from Cargo's own license data:
#   gen-copyright.pl Cargo.lock HOST.json CRATES PKGDIR COPYRIGHT BUILT_USING
# HOST.json is `cargo metadata --format-version 1 --locked --filter-platform <host triple>`
# (license, authors, sources); CRATES is `cargo tree -e normal,build --target <host>
# --prefix none -f '{p}'`: the crates compiled into the package with the features the build
# uses (cargo metadata's resolve also holds optional crates no feature enables). Each gets a Files paragraph with the copyright lines of its own license files (from
# the crate sources cargo unpacked) and its declared license. The license texts come from
# PKGDIR/licenses (Apache-2.0: /usr/share/common-licenses). Also writes, to BUILT_USING, the
# X-Cargo-Built-Using value: `rust-<crate> (= <version>)` for each compiled crate, as dh-cargo
# names them. Perl and its core JSON::PP only: dpkg-dev already needs perl.
use strict;
use warnings;
use JSON::PP;
use File::Basename qw(dirname);

@ARGV == 6 or die "usage: $0 Cargo.lock HOST.json CRATES PKGDIR COPYRIGHT BUILT_USING\n";
my ($lock, $host_json, $list, $pkgdir, $out, $bu_out) = @ARGV;

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or die "gen-copyright: $f: $!\n";
    local $/;
    return scalar <$fh>;
}

my $host = decode_json(slurp($host_json));

my %by_name_version = map { ("$_->{name} $_->{version}" => $_) } @{ $host->{packages} };
my $root_name = $host->{resolve}{root} && (grep { $_->{id} eq $host->{resolve}{root} } @{ $host->{packages} })[0]{name}
  or die "gen-copyright: no root package in $host_json\n";
# the crates compiled into the package: `cargo tree -e normal,build --target <host>` lines
my (@crates, %is_built);
for (split /\n/, slurp($list)) {
    my ($name, $v) = split ' ';
    next unless defined $v;
    $v =~ s/^v//;
    next if $name eq $root_name || $is_built{"$name $v"}++;
    my $c = $by_name_version{"$name $v"}
      or die "gen-copyright: $name $v is not in cargo metadata's package list\n";
    push @crates, $c;
}
@crates or die "gen-copyright: no crates in $list\n";
@crates = sort { $a->{name} cmp $b->{name} || $a->{version} cmp $b->{version} } @crates;

# the rest of Cargo.lock: dev-dependencies and other platforms' crates
my @locked;
for (split /\n\[\[package\]\]\n/, slurp($lock)) {
    push @locked, "$1 $2" if /^name = "([^"]+)"\nversion = "([^"]+)"/m;
}
@locked or die "gen-copyright: no [[package]] in $lock\n";
my @not_built = sort grep { !$is_built{$_} && !/^\Q$root_name\E / } @locked;

# SPDX expression -> Debian copyright-format License field, and the license names it uses
my %debian_name = ('BSD-2-Clause' => 'BSD-2-clause', 'BSD-3-Clause' => 'BSD-3-clause');
sub license_field {
    my ($crate) = @_;
    my $spdx = $crate->{license}
      or die "gen-copyright: $crate->{name} $crate->{version} declares no SPDX license\n";
    my $e = $spdx;
    $e =~ s{/}{ OR }g;    # the old `MIT/Apache-2.0` form
    my $tail = '';
    # `(A OR B) AND C`: the format's comma gives `and` the lower precedence
    if ($e =~ /^\(([^()]+)\)\s+AND\s+([^()]+)$/) {
        ($e, $tail) = ($1, $2);
    }
    die "gen-copyright: $crate->{name}: cannot translate the license expression '$spdx'\n"
      if "$e$tail" =~ /[()]/;
    my @names;
    my $conv = sub {
        my ($x) = @_;
        my @alts = split /\s+OR\s+/, $x;
        for (@alts) {
            my @all = split /\s+AND\s+/;
            for (@all) {
                s/^(\S+)\s+WITH\s+(\S+)-exception$/"$1 with " . uc($2) . " exception"/e;
                die "gen-copyright: $crate->{name}: unexpected license term '$_' in '$spdx'\n"
                  unless /^[A-Za-z0-9.+-]+( with \S+ exception)?$/;
                $_ = $debian_name{$_} // $_;
                push @names, $_;
            }
            $_ = join ' and ', @all;
        }
        return join ' or ', @alts;
    };
    my $field = $conv->($e);
    $field .= ', and ' . $conv->($tail) if length $tail;
    return ($field, @names);
}

# The copyright lines of a crate's own license files
sub copyright_lines {
    my ($crate) = @_;
    my $dir = dirname($crate->{manifest_path});
    my @files;
    if (opendir(my $dh, $dir)) {
        @files = map { "$dir/$_" } sort grep { /^(LICEN[CS]E|COPYING|UNLICENSE|NOTICE|COPYRIGHT)/i } readdir $dh;
        closedir $dh;
    }
    push @files, "$dir/$crate->{license_file}" if $crate->{license_file};
    my (@lines, %seen);
    for my $f (@files) {
        next unless -f $f;
        for (split /\n/, slurp($f)) {
            s/^\s+|\s+$//g;
            next unless /^(?:copyright\b|\(c\)\s*\d|©\s*\d)/i;
            next if /\[yyyy\]|\[name of|copyright (?:notice|owner|license|holder)|^copyright and permission/i;
            next unless /(?:\d{4}|\(c\)|©|\bby\b|authors|developers|contributors)/i;
            s/^copyright\s*(?:\(c\)|©)?\s*//i;
            s/^\(c\)\s*//i;
            push @lines, $_ if length && !$seen{ lc $_ }++;
        }
    }
    return @lines if @lines;
    my @authors = @{ $crate->{authors} || [] };
    return @authors ? @authors : ("the $crate->{name} developers");
}

my $header = slurp("$pkgdir/copyright.in");
my (%used, @paras, @built_using);
for my $c (@crates) {
    my ($field, @names) = license_field($c);
    $used{$_} = 1 for @names;
    my @cr = copyright_lines($c);
    my $para = "Files: cargo-registry/$c->{name}-$c->{version}/*\n";
    $para .= "Copyright: " . join("\n ", @cr) . "\n";
    $para .= "License: $field\n";
    $para .= "Comment: crate $c->{name} $c->{version} from crates.io\n";
    push @paras, $para;
    (my $deb = lc $c->{name}) =~ tr/_/-/;
    push @built_using, "rust-$deb (= $c->{version})";
}

# the project's own license
$used{MIT} = $used{'Apache-2.0'} = 1;

sub para_text {
    my ($text) = @_;
    $text =~ s/\s+$//;
    $text =~ s/\n{3,}/\n\n/g;
    return join "\n", map { length($_) ? " $_" : ' .' } split /\n/, $text;
}

my $apache_ref = "On Debian systems, the complete text of the Apache License, Version 2.0\n"
  . "can be found in \"/usr/share/common-licenses/Apache-2.0\".";
my @license_paras;
for my $name (sort keys %used) {
    my $text;
    if ($name eq 'Apache-2.0') {
        $text = $apache_ref;
    } elsif ($name =~ /^Apache-2\.0 with (\S+) exception$/) {
        $text = $apache_ref . "\n\n" . slurp("$pkgdir/licenses/$1-exception");
    } else {
        (my $file = $name) =~ s/^BSD-(\d)-clause$/BSD-$1-Clause/;
        -f "$pkgdir/licenses/$file"
          or die "gen-copyright: no text for license $name: add $pkgdir/licenses/$file\n";
        $text = slurp("$pkgdir/licenses/$file");
    }
    push @license_paras, "License: $name\n" . para_text($text) . "\n";
}

my $not_built = join("\n", map { " $_" } @not_built);
$header =~ s/\@NOT_BUILT\@/$not_built/;
$header =~ s/\@COUNT\@/scalar @crates/e;

open(my $o, '>', $out) or die "gen-copyright: $out: $!\n";
print $o join("\n", $header =~ s/\s+$//r . "\n", @paras, @license_paras);
close $o or die "gen-copyright: $out: $!\n";
open(my $b, '>', $bu_out) or die "gen-copyright: $bu_out: $!\n";
print $b join(', ', @built_using), "\n";
close $b or die "gen-copyright: $bu_out: $!\n";
