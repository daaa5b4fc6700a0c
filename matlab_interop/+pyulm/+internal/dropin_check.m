function out = dropin_check(what)
%DROPIN_CHECK Whether PALA's functions shadow pyulm's drop-in on the path.
%   pyulm.internal.dropin_check() warns once per session (identifier
%   pyulm:DropinShadowed) when one of the drop-in's names resolves to another
%   file (PALA's own, put in front by addpath(genpath(PALA)) in
%   PALA_SetUpPaths), with the one line that restores the drop-in.
%   names = pyulm.internal.dropin_check('shadowed') lists the shadowed names;
%   folder = pyulm.internal.dropin_check('folder') is the drop-in folder;
%   pyulm.internal.dropin_check('reset') forgets that it warned.
persistent warned checked_for shadowed
here = fileparts(mfilename('fullpath'));
folder = fullfile(fileparts(fileparts(here)), 'dropin');
if nargin >= 1 && strcmp(what, 'folder')
    out = folder;
    return
elseif nargin >= 1 && strcmp(what, 'reset')
    warned = [];
    checked_for = [];
    out = [];
    return
end
key = [pwd() pathsep() path()];  % which() costs milliseconds: look again only when these change
if ~isequal(key, checked_for)
    names = {'SVDfilter', 'ULM_localization2D', 'ULM_tracking2D', 'ULM_Track2MatOut'};
    shadowed = {};
    for k = 1:numel(names)
        if ~strcmp(which(names{k}), fullfile(folder, [names{k} '.m']))
            shadowed{end + 1} = names{k}; %#ok<AGROW>
        end
    end
    checked_for = key;
end
if nargin >= 1
    out = shadowed;
    return
end
if ~isempty(shadowed) && isempty(warned)
    warned = true;
    warning('pyulm:DropinShadowed', ...
            ['%s is %s, not pyulm''s drop-in: PALA''s own functions are ahead of %s on the path ' ...
             '(addpath(genpath(PALA)) in PALA_SetUpPaths puts them there), so PALA''s code runs. ' ...
             'Add this line after run(''PALA_SetUpPaths.m''):  pyulm.dropin();'], ...
            shadowed{1}, which(shadowed{1}), folder);
end
end
