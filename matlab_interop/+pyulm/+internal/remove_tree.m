function remove_tree(d)
%REMOVE_TREE Delete the files of a pyulm temporary directory and the directory.
%   The bridge writes only plain files there, so one level is enough; used from
%   onCleanup, so it never throws.
if isempty(d) || ~exist(d, 'dir')
    return
end
entries = dir(d);
for k = 1:numel(entries)
    name = entries(k).name;
    if strcmp(name, '.') || strcmp(name, '..')
        continue
    end
    f = fullfile(d, name);
    if entries(k).isdir
        pyulm.internal.remove_tree(f);
    else
        try
            delete(f);
        catch
        end
    end
end
try
    rmdir(d);
catch
end
end
