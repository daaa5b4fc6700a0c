function remove_tree(d, keep)
%REMOVE_TREE Delete a pyulm temporary directory with everything in it.
%   pyulm.internal.remove_tree(d, keep) deletes what d holds except the
%   names in the cell keep, and keeps d (the worker's folder between calls).
%   Used from onCleanup, so it never throws. The names are taken literally
%   whatever characters TMPDIR holds: Octave's dir and delete expand glob
%   patterns ([x], *, ?), so Octave lists with readdir and deletes with
%   unlink; MATLAB's dir and delete expand '*', so a path holding one is
%   removed by the shell with the path quoted.
if isempty(d) || ~exist(d, 'dir')
    return
end
if nargin < 2
    keep = [];
end
try
    if pyulm.internal.is_octave()
        remove_read(d, keep);
    elseif ~isempty(keep)
        remove_listed(d, keep);
    elseif any(d == '*') && ispc()
        system(['rmdir /s /q ' pyulm.internal.shell_quote(d)]);
    elseif any(d == '*')
        system(['rm -rf -- ' pyulm.internal.shell_quote(d)]);
    else
        remove_listed(d, []);
    end
catch
end
end

function remove_listed(d, keep)
entries = dir(d);
for k = 1:numel(entries)
    name = entries(k).name;
    if any(strcmp(name, [{'.', '..'}, keep]))
        continue
    end
    f = fullfile(d, name);
    if entries(k).isdir
        remove_listed(f, []);
    else
        delete(f);
    end
end
if isempty(keep)
    rmdir(d);
end
end

function remove_read(d, keep)
names = readdir(d);
for k = 1:numel(names)
    if any(strcmp(names{k}, [{'.', '..'}, keep]))
        continue
    end
    f = fullfile(d, names{k});
    if unlink(f) ~= 0 && isfolder(f)  % pyulm's folders hold files: a folder is the rare case
        remove_read(f, []);
    end
end
if isempty(keep)
    [ok, msg] = rmdir(d); %#ok<ASGLU> never an error: the caller cleans up after other errors
end
end
