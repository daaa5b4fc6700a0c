function remove_tree(d)
%REMOVE_TREE Delete a pyulm temporary directory with everything in it.
%   Used from onCleanup, so it never throws. The names are taken literally
%   whatever characters TMPDIR holds: Octave's dir and delete expand glob
%   patterns ([x], *, ?), so Octave lists with readdir and deletes with
%   unlink; MATLAB's dir and delete expand '*', so a path holding one is
%   removed by the shell with the path quoted.
if isempty(d) || ~exist(d, 'dir')
    return
end
try
    if pyulm.internal.is_octave()
        remove_read(d);
    elseif any(d == '*') && ispc()
        system(['rmdir /s /q ' pyulm.internal.shell_quote(d)]);
    elseif any(d == '*')
        system(['rm -rf -- ' pyulm.internal.shell_quote(d)]);
    else
        remove_listed(d);
    end
catch
end
end

function remove_listed(d)
entries = dir(d);
for k = 1:numel(entries)
    name = entries(k).name;
    if strcmp(name, '.') || strcmp(name, '..')
        continue
    end
    f = fullfile(d, name);
    if entries(k).isdir
        remove_listed(f);
    else
        delete(f);
    end
end
rmdir(d);
end

function remove_read(d)
names = readdir(d);
for k = 1:numel(names)
    if strcmp(names{k}, '.') || strcmp(names{k}, '..')
        continue
    end
    f = fullfile(d, names{k});
    if isfolder(f)
        remove_read(f);
    else
        unlink(f);
    end
end
[ok, msg] = rmdir(d); %#ok<ASGLU> never an error: the caller cleans up after other errors
end
